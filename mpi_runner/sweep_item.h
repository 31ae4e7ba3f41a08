// The work-unit executor: item -> task prompt -> chat template -> segment-aware tokens ->
// fork_decode over every (method, ratio) point -> task score -> one JSON record per point, with
// fidelity against the FullKV fork of the same item.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compression/compressor.h"
#include "engine/model.h"
#include "mpi_runner/messages.h"
#include "mpi_runner/run_config.h"
#include "tasks/task.h"

// What one rank holds while it runs units: the current model, loaded task items, compressors.
// Under tensor parallelism every rank of a group runs each unit on its slice of the model; only
// the leader scores the outputs and builds the records.
struct sweep_runtime {
    const sweep_config* config = nullptr;
    int rank = 0;                                    // MPI_COMM_WORLD rank (records name it)
    collective* tp = nullptr;                        // this worker's group; nullptr = one rank
    bool leader = true;                              // rank 0 of the group: scores, records

    int32_t model_index = -1;
    std::shared_ptr<model> loaded;                   // the model of model_index
    std::vector<std::string> chat_templates;         // [model] resolved template names
    std::map<std::pair<int32_t, int32_t>, std::vector<task_item>> items; // (model, task) -> items
    std::vector<std::unique_ptr<compressor>> methods; // [method] from the config
    std::shared_ptr<model> judge; // safety judge model, loaded on first use, whole, on leaders only
};

// Resolves "auto" templates from the model files (cheap: metadata of a memory-mapped file) and
// creates the compressors. Throws naming the config field.
sweep_runtime sweep_runtime_init(const sweep_config& c, int rank);

task_options sweep_task_options(const sweep_runtime& rt, int32_t model, int32_t task);
const std::vector<task_item>& sweep_items(sweep_runtime& rt, int32_t model, int32_t task);

// Runs one unit; records are one-line JSON texts in the order of unit.points (none off the leader).
unit_result sweep_run_unit(sweep_runtime& rt, const work_unit& unit);

// The registries the config is validated against, with deep checks (method params, model path,
// parallel.tp).
config_registry sweep_registry();
// What parallel.tp > 1 needs: tp divides every model's KV heads and FFN size (engine/tp.h
// tp_check), Q8_0 column slices stay whole blocks, and no method drops prefill rows
// (PyramidInfer). The safety judge is not split: it runs whole on each group leader.
void sweep_check_tp(const sweep_config& c);
