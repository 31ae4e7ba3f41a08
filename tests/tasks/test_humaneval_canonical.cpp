// Every canonical HumanEval solution passes its tests in the sandbox, through the task's own
// program assembly; a wrong body fails. Each run has its own temporary directory, so parallel
// test processes do not interfere.
#include <gtest/gtest.h>

#include "tasks/task.h"

TEST(HumanEvalCanonical, All164Pass) {
    task_options base;
    base.instruct = false;
    const task_def& t = task_get("humaneval");
    const std::vector<task_item> items = t.load(base);
    ASSERT_EQ(items.size(), 164u);
    int passed = 0;
    for (const task_item& it : items) {
        const task_score s = t.score(it, it.gold, base);
        EXPECT_EQ(s.scores.at("pass@1"), 1.0) << it.id << ": " << s.extracted.dump();
        passed += s.scores.at("pass@1") == 1.0;
    }
    EXPECT_EQ(passed, 164);
    // Instruct format: the completion is cut at the closing fence.
    task_options instruct;
    EXPECT_EQ(t.score(items[0], items[0].gold + "```\nExplanation: it works.", instruct)
                  .scores.at("pass@1"),
              1.0);
    EXPECT_EQ(t.score(items[0], "    return True\n", base).scores.at("pass@1"), 0.0);
}
