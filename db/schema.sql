-- The ksearch archive, schema version 4. A new archive is this file run once; an older one is
-- brought here by the numbered migrations of db/migrations.cpp, which raise PRAGMA user_version. The file is marked
-- as ksearch's by PRAGMA application_id (see archive.cpp).
-- Times are unix seconds. Device is the GPU's name as CUDA reports it ("NVIDIA H100 80GB HBM3"):
-- results are per GPU model, so archives from hosts with the same GPU merge into one population.

-- One `ksearch run` (and its resumptions).
CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  uid            TEXT NOT NULL UNIQUE,    -- random; keeps a run one run across merges
  task           TEXT NOT NULL,
  device         TEXT NOT NULL,
  arch           TEXT NOT NULL,
  host           TEXT NOT NULL,
  seed           INTEGER NOT NULL,
  options        TEXT NOT NULL,           -- JSON: budgets, devices, batch, timer
  state          TEXT NOT NULL,           -- running | stopped | budget | exhausted | failed
  started_at     REAL NOT NULL,
  updated_at     REAL NOT NULL,
  active_seconds REAL NOT NULL DEFAULT 0, -- searching time over every resumption
  bandwidth      REAL,                    -- ceilings measured on the device, bytes/s
  peak_flops     REAL,                    -- and bf16 FLOP/s
  -- The task's constants the run checks with (version 4), JSON {"eps": 1e-05}; '{}' for a task
  -- without any. A constant missing from it is the task's default.
  constants      TEXT NOT NULL DEFAULT '{}'
);

-- Candidate files, content-addressed by the hash of their normalized text (comments and
-- blank space do not make a new source).
CREATE TABLE sources (
  id           INTEGER PRIMARY KEY,
  hash         TEXT NOT NULL UNIQUE,
  task         TEXT NOT NULL,
  name         TEXT NOT NULL,             -- the plan's name
  text         TEXT NOT NULL,             -- the file as first seen
  uses_helpers INTEGER NOT NULL           -- includes seeds/include/ks headers
);

-- A candidate is one source at one point of its parameter space.
CREATE TABLE candidates (
  id         INTEGER PRIMARY KEY,
  key        TEXT NOT NULL UNIQUE,        -- source hash + params: never evaluated twice
  source_id  INTEGER NOT NULL REFERENCES sources(id),
  task       TEXT NOT NULL,
  params     TEXT NOT NULL,               -- "THREADS=128,ROWS=2", "default" without params
  origin     TEXT NOT NULL,               -- seed | mutate | crossover | migrate | llm_...
  parents    TEXT NOT NULL,               -- JSON array of candidate ids
  generation INTEGER NOT NULL,
  label      TEXT NOT NULL,               -- seed file, or the operator's note
  run_id     INTEGER REFERENCES runs(id),
  created_at REAL NOT NULL
);
CREATE INDEX candidates_task ON candidates(task);

-- One candidate on one shape on one GPU model.
CREATE TABLE evaluations (
  id               INTEGER PRIMARY KEY,
  candidate_id     INTEGER NOT NULL REFERENCES candidates(id),
  run_id           INTEGER REFERENCES runs(id),
  device           TEXT NOT NULL,
  shape            TEXT NOT NULL,         -- "M=16,K=4096,N=6144"
  status           TEXT NOT NULL,         -- ok | not_applicable | compile_error | launch_error |
                                          -- wrong | crash | timeout | guard_violation | input_modified |
                                          -- implausible
  error            TEXT NOT NULL,
  nondeterministic INTEGER NOT NULL,
  median_us        REAL,                  -- timing: only for ok rows
  p10_us           REAL,
  p90_us           REAL,
  baseline_us      REAL,
  speedup          REAL,                  -- median over replay pairs of baseline / candidate
  floor_us         REAL,                  -- roofline floor of the shape on the device
  max_scaled_error REAL,
  rel_l2_error     REAL,
  registers        INTEGER,               -- the most of any kernel
  smem_bytes       INTEGER,               -- static shared memory, the most of any kernel
  spill_bytes      INTEGER,               -- stores + loads, all kernels
  resources        TEXT NOT NULL,         -- JSON, per kernel
  seed             INTEGER,               -- input seed
  seconds          REAL NOT NULL,         -- wall time of the evaluation
  created_at       REAL NOT NULL,
  -- Where a timed plan of several steps spends its time (version 3): JSON
  -- [{"step": "plan.steps[1] (gemm)", "median_us": 12.5}], measured apart from the ranked timing.
  steps            TEXT NOT NULL DEFAULT '[]',
  -- The task's constants the candidate and the references computed with (version 4), as runs'.
  -- Speed does not depend on them, so a (candidate, shape, device) is evaluated once whatever
  -- they were.
  constants        TEXT NOT NULL DEFAULT '{}',
  UNIQUE (candidate_id, shape, device)
);
CREATE INDEX evaluations_device_shape ON evaluations(device, shape);

-- Calls to an LLM proposer.
CREATE TABLE llm_calls (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER REFERENCES runs(id),
  operator          TEXT NOT NULL,
  model             TEXT NOT NULL,
  status            TEXT NOT NULL,         -- ok | truncated | no_code_block | bad_plan | wrong_task |
                                           -- duplicate | bad_response | unreachable | http_NNN
  error             TEXT NOT NULL,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  latency_s         REAL,
  candidate_id      INTEGER REFERENCES candidates(id),
  created_at        REAL NOT NULL,
  -- What was said, so a candidate's conversation can be read and a run replayed (version 2):
  messages          TEXT NOT NULL DEFAULT '[]', -- JSON: the chat messages sent, [{role, content}]
  reply             TEXT NOT NULL DEFAULT '',   -- the reply's text; empty when none came
  UNIQUE (run_id, created_at, operator)
);

-- Re-verifications of candidates on held-out shapes and fresh inputs.
CREATE TABLE audits (
  id               INTEGER PRIMARY KEY,
  candidate_id     INTEGER NOT NULL REFERENCES candidates(id),
  device           TEXT NOT NULL,
  shape            TEXT NOT NULL,
  seed             INTEGER NOT NULL,
  status           TEXT NOT NULL,
  error            TEXT NOT NULL,
  deterministic    INTEGER NOT NULL,
  median_us        REAL,
  max_scaled_error REAL,
  rel_l2_error     REAL,
  created_at       REAL NOT NULL,
  constants        TEXT NOT NULL DEFAULT '{}', -- as evaluations' (version 4)
  UNIQUE (candidate_id, device, shape, seed)
);
