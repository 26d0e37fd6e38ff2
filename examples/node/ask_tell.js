#!/usr/bin/env node
// Client-driven (ask/tell) tuning from Node.js: minimise the Branin function with a Nestor controller.
//
// The client is made at start-up from the protos in protos/ by @grpc/proto-loader: nothing is
// generated ahead of time, and nothing here is specific to Nestor but the message and method names.
//
//   npm ci && node ask_tell.js [--controller localhost:50051] [--trials 30]
//
// Security, when the controller asks for it (README: Security): NESTOR_TOKEN is sent as a bearer
// token; NESTOR_TLS_CA (and NESTOR_TLS_CERT/NESTOR_TLS_KEY for mutual TLS) switch the channel to TLS.
// The last line printed is a JSON summary (the tests read it).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = process.env.NESTOR_PROTOS || path.resolve(__dirname, "..", "..", "protos");
const STEPS = 3;

function parseArgs(argv) {
  const args = { controller: process.env.NESTOR_CONTROLLER || "localhost:50051", trials: 30, batch: 4 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args) || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete option ${argv[i]} (known: --controller, --trials, --batch)`);
    }
    args[key] = key === "controller" ? argv[i + 1] : Number(argv[i + 1]);
  }
  return args;
}

function loadController() {
  const definition = protoLoader.loadSync("nestor/v1/controller.proto", {
    includeDirs: [PROTOS],
    keepCase: true, // field names exactly as in the protos: study_id, max_trials, ...
    longs: Number, // int64 trial ids and steps as plain numbers
    enums: String, // "GOAL_MINIMIZE", "DECISION_STOP", ...
    defaults: true,
    oneofs: true, // a Value says which of its fields is set in `kind`
  });
  return grpc.loadPackageDefinition(definition).nestor.v1.Controller;
}

function credentials() {
  const ca = process.env.NESTOR_TLS_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(fs.readFileSync(ca), read("NESTOR_TLS_KEY"), read("NESTOR_TLS_CERT"));
}

function metadata() {
  const md = new grpc.Metadata();
  if (process.env.NESTOR_TOKEN) md.set("authorization", `Bearer ${process.env.NESTOR_TOKEN}`);
  return md;
}

// One promise-returning function per unary method: await call("SuggestTrials", {...}).
function caller(client) {
  return (method, request) =>
    new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + 30_000);
      client[method](request, metadata(), { deadline }, (err, answer) => {
        if (err) reject(new Error(`${method}: ${grpc.status[err.code]}: ${err.details}`));
        else resolve(answer);
      });
    });
}

function branin(x0, x1) {
  const b = 5.1 / (4 * Math.PI ** 2);
  const c = 5 / Math.PI;
  const t = 1 / (8 * Math.PI);
  return (x1 - b * x0 ** 2 + c * x0 - 6) ** 2 + 10 * (1 - t) * Math.cos(x0) + 10;
}

function value(v) {
  return v[v.kind]; // a nestor.v1.Value: double_value, int_value, string_value or bool_value
}

function studySpec(trials) {
  const double = (name, min, max) => ({ name, double: { min, max } });
  return {
    name: "branin-node",
    space: { parameters: [double("x0", -5, 10), double("x1", 0, 15)] },
    objectives: [{ metric: "y", goal: "GOAL_MINIMIZE" }],
    algorithm: { name: "random" },
    budget: { max_trials: trials },
    seed: 17,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const Controller = loadController();
  const client = new Controller(args.controller, credentials());
  const call = caller(client);

  const study = await call("CreateStudy", { spec: studySpec(args.trials) });
  console.log(`study ${study.id}: ${args.trials} trials of Branin from Node.js`);
  for (;;) {
    const asked = await call("SuggestTrials", { study_id: study.id, count: args.batch, client_id: "node" });
    for (const trial of asked.trials) {
      const y = branin(value(trial.params.x0), value(trial.params.x1));
      for (let step = 1; step <= STEPS; step++) {
        // A stand-in for an iterative computation whose estimate sharpens with each step.
        const estimate = y * (1 + (0.5 * (STEPS - step)) / STEPS);
        const answer = await call("ReportMeasurement", {
          study_id: study.id, trial_id: trial.id, measurement: { step, metrics: { y: estimate } },
        });
        if (answer.decision === "DECISION_STOP") break; // the scheduler says this one will not win
      }
      await call("CompleteTrial", { study_id: study.id, trial_id: trial.id }); // the last report is the result
    }
    if (asked.study_done || asked.trials.length === 0) break;
  }

  const final = await call("GetStudy", { study_id: study.id });
  const best = (await call("GetBestTrials", { study_id: study.id, count: 1 })).trials[0];
  const summary = {
    study: final.id,
    state: final.state,
    completed: final.counts.completed,
    best_y: best ? best.final_measurement.metrics.y : null,
    best_params: best ? { x0: value(best.params.x0), x1: value(best.params.x1) } : null,
  };
  console.log(`best y = ${summary.best_y} at x0 = ${summary.best_params?.x0}, x1 = ${summary.best_params?.x1}`);
  console.log(JSON.stringify(summary));
  client.close();
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
