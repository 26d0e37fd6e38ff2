from nestor_controller.cli import main

main()
