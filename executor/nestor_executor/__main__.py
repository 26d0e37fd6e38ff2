# The import stays under the guard: spawned worker processes re-run this module as __mp_main__.
if __name__ == "__main__":
    from nestor_executor.cli import main

    main()
