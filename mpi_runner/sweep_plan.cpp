#include "mpi_runner/sweep_plan.h"

#include "mpi_runner/journal.h"

std::vector<work_unit> sweep_plan_units(const sweep_config& c,
                                        const std::vector<std::vector<std::vector<std::string>>>& item_ids,
                                        const std::set<std::string>& done, int64_t& total_records) {
    const std::vector<sweep_point> points = c.points();
    std::vector<work_unit> units;
    total_records = 0;
    for (size_t m = 0; m < c.models.size(); ++m)
        for (size_t t = 0; t < c.tasks.size(); ++t)
            for (size_t i = 0; i < item_ids[m][t].size(); ++i) {
                work_unit u;
                u.model = (int32_t)m;
                u.task = (int32_t)t;
                u.item = (int32_t)i;
                u.item_id = item_ids[m][t][i];
                for (size_t p = 0; p < points.size(); ++p) {
                    const std::string key =
                        record_key(c.models[m].name, c.tasks[t].label, u.item_id,
                                   c.point_method(points[p]), ratio_text(points[p].ratio));
                    if (!done.count(key)) u.points.push_back((int32_t)p);
                }
                if (u.points.empty()) continue;
                u.unit = (int32_t)units.size();
                total_records += (int64_t)u.points.size();
                units.push_back(std::move(u));
            }
    return units;
}
