// Client-driven (ask/tell) tuning from C++: minimise the Branin function with a Nestor controller.
//
// The classes used here (nestor::v1::Controller::Stub, StudySpec, ...) are generated from protos/ by
// protoc and grpc_cpp_plugin when `make` builds this program (see the Makefile beside it).
//
//   ask_tell [--controller localhost:50051] [--trials 30]
//
// Security, when the controller asks for it (README: Security): NESTOR_TOKEN is sent as a bearer
// token; NESTOR_TLS_CA (and NESTOR_TLS_CERT/NESTOR_TLS_KEY for mutual TLS) switch the channel to TLS.
// The last line printed is a JSON summary (the tests read it).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "nestor/v1/controller.grpc.pb.h"

namespace v1 = nestor::v1;

namespace {

constexpr int kSteps = 3;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  const std::string ca = Env("NESTOR_TLS_CA");
  if (ca.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(ca);
  if (!Env("NESTOR_TLS_CERT").empty()) {
    tls.pem_cert_chain = ReadFile(Env("NESTOR_TLS_CERT"));
    tls.pem_private_key = ReadFile(Env("NESTOR_TLS_KEY"));
  }
  return grpc::SslCredentials(tls);
}

// Every call: a deadline, and the bearer token when there is one.
class Calls {
 public:
  explicit Calls(std::unique_ptr<v1::Controller::Stub> stub)
      : stub_(std::move(stub)), token_(Env("NESTOR_TOKEN")) {}

  template <typename Request, typename Response>
  Response Call(const char* name,
                grpc::Status (v1::Controller::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const Request& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
    Response response;
    grpc::Status status = (stub_.get()->*method)(&context, request, &response);
    if (!status.ok()) {
      throw std::runtime_error(std::string(name) + ": code " + std::to_string(status.error_code()) + ": " +
                               status.error_message());
    }
    return response;
  }

 private:
  std::unique_ptr<v1::Controller::Stub> stub_;
  std::string token_;
};

double Branin(double x0, double x1) {
  const double pi = std::acos(-1.0);
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  return std::pow(x1 - b * x0 * x0 + c * x0 - 6, 2) + 10 * (1 - t) * std::cos(x0) + 10;
}

v1::StudySpec BraninSpec(int trials) {
  v1::StudySpec spec;
  spec.set_name("branin-cpp");
  spec.set_seed(23);
  for (auto [name, low, high] : {std::tuple{"x0", -5.0, 10.0}, std::tuple{"x1", 0.0, 15.0}}) {
    v1::Parameter* p = spec.mutable_space()->add_parameters();
    p->set_name(name);
    p->mutable_double_()->set_min(low);
    p->mutable_double_()->set_max(high);
  }
  v1::Objective* objective = spec.add_objectives();
  objective->set_metric("y");
  objective->set_goal(v1::GOAL_MINIMIZE);
  spec.mutable_algorithm()->set_name("random");
  spec.mutable_budget()->set_max_trials(trials);
  return spec;
}

int Run(int argc, char** argv) {
  std::string target = Env("NESTOR_CONTROLLER", "localhost:50051");
  int trials = 30, batch = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--controller") target = argv[i + 1];
    else if (key == "--trials") trials = std::stoi(argv[i + 1]);
    else if (key == "--batch") batch = std::stoi(argv[i + 1]);
    else throw std::runtime_error("unknown option " + key + " (known: --controller, --trials, --batch)");
  }
  Calls calls(v1::Controller::NewStub(grpc::CreateChannel(target, Credentials())));
  using Stub = v1::Controller::Stub;

  v1::CreateStudyRequest create;
  *create.mutable_spec() = BraninSpec(trials);
  const v1::Study study = calls.Call("CreateStudy", &Stub::CreateStudy, create);
  std::cout << "study " << study.id() << ": " << trials << " trials of Branin from C++" << std::endl;

  for (;;) {
    v1::SuggestTrialsRequest ask;
    ask.set_study_id(study.id());
    ask.set_count(batch);
    ask.set_client_id("cpp");
    const v1::SuggestTrialsResponse asked = calls.Call("SuggestTrials", &Stub::SuggestTrials, ask);
    std::cerr << "suggested trials:";  // a trace on stderr: stdout ends with the JSON summary
    for (const v1::Trial& trial : asked.trials()) std::cerr << " " << trial.id();
    std::cerr << std::endl;
    for (const v1::Trial& trial : asked.trials()) {
      const double y = Branin(trial.params().at("x0").double_value(), trial.params().at("x1").double_value());
      for (int step = 1; step <= kSteps; ++step) {
        // A stand-in for an iterative computation whose estimate sharpens with each step.
        v1::ReportMeasurementRequest report;
        report.set_study_id(study.id());
        report.set_trial_id(trial.id());
        report.mutable_measurement()->set_step(step);
        (*report.mutable_measurement()->mutable_metrics())["y"] = y * (1 + 0.5 * (kSteps - step) / kSteps);
        if (calls.Call("ReportMeasurement", &Stub::ReportMeasurement, report).decision() == v1::DECISION_STOP) {
          break;  // the scheduler says this one will not win
        }
      }
      v1::CompleteTrialRequest complete;  // no final measurement: the last report is the result
      complete.set_study_id(study.id());
      complete.set_trial_id(trial.id());
      calls.Call("CompleteTrial", &Stub::CompleteTrial, complete);
    }
    if (asked.study_done() || asked.trials_size() == 0) break;
  }

  v1::GetStudyRequest get;
  get.set_study_id(study.id());
  const v1::Study final_study = calls.Call("GetStudy", &Stub::GetStudy, get);
  v1::GetBestTrialsRequest best_request;
  best_request.set_study_id(study.id());
  best_request.set_count(1);
  const v1::GetBestTrialsResponse best = calls.Call("GetBestTrials", &Stub::GetBestTrials, best_request);
  if (best.trials_size() == 0) throw std::runtime_error("no trial has a result");
  const v1::Trial& top = best.trials(0);
  const double best_y = top.final_measurement().metrics().at("y");
  std::cout << "best y = " << best_y << " at x0 = " << top.params().at("x0").double_value()
            << ", x1 = " << top.params().at("x1").double_value() << std::endl;
  std::cout.precision(17);
  std::cout << "{\"study\": \"" << final_study.id() << "\", \"state\": \"" << v1::StudyState_Name(final_study.state())
            << "\", \"completed\": " << final_study.counts().completed() << ", \"best_y\": " << best_y << "}"
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
