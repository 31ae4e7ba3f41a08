// The work list of a sweep: one unit per (model, task, item) holding every (method, ratio) point
// that the journal does not have yet. Units are model-major so a worker loads each model rarely.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "mpi_runner/messages.h"
#include "mpi_runner/run_config.h"

// item_ids[model][task] lists the ids of the task's items for that model, in load order.
// `done` holds record_key()s already journaled; `total_records` receives the records to produce.
std::vector<work_unit> sweep_plan_units(const sweep_config& c,
                                        const std::vector<std::vector<std::vector<std::string>>>& item_ids,
                                        const std::set<std::string>& done, int64_t& total_records);
