// Messages between the master (rank 0) and the workers: plain structs sent as Boost.Serialization
// binary archives (all ranks of a job run the same build on the same architecture).
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

enum message_tag : int {
    TAG_HELLO = 1,  // worker -> master: std::vector<worker_hello> (its ranks), ready for work
    TAG_UNIT = 2,   // master -> worker: work_unit
    TAG_RESULT = 3, // worker -> master: unit_result, ready for more
    TAG_ERROR = 4,  // worker -> master: worker_error; the run stops
    TAG_STOP = 5,   // master -> worker: no more work
};

// One item with every (method, ratio) point still missing from the journal.
struct work_unit {
    int32_t unit = -1;           // index in the master's plan
    int32_t model = 0;           // index into sweep_config::models
    int32_t task = 0;            // index into sweep_config::tasks
    int32_t item = 0;            // index into the task's loaded items
    std::string item_id;         // the item's stable id (messages name it)
    std::vector<int32_t> points; // indices into sweep_config::points() to record
    template <class A> void serialize(A& a, unsigned) { a & unit & model & task & item & item_id & points; }
};

// Ranks are MPI_COMM_WORLD ranks (a worker's leader under tensor parallelism).
struct unit_result {
    int32_t unit = -1;
    int32_t rank = 0;
    std::vector<std::string> records; // one-line JSON records, in point order
    int64_t generated_tokens = 0;     // over all decoded sequences, for throughput
    double busy_s = 0;                // wall time spent on the unit
    template <class A> void serialize(A& a, unsigned) {
        a & unit & rank & records & generated_tokens & busy_s;
    }
};

struct worker_error {
    int32_t unit = -1;
    int32_t rank = 0;
    std::string message;
    template <class A> void serialize(A& a, unsigned) { a & unit & rank & message; }
};

// One rank of a worker (a tensor-parallel group has several, its leader first).
struct worker_hello {
    int32_t rank = 0;
    int32_t pid = 0;
    std::string host;
    template <class A> void serialize(A& a, unsigned) { a & rank & pid & host; }
};

template <class T> std::string message_pack(const T& value) {
    std::ostringstream os;
    {
        boost::archive::binary_oarchive ar(os);
        ar << value;
    }
    return os.str();
}

template <class T> T message_unpack(const std::string& bytes) {
    std::istringstream is(bytes);
    boost::archive::binary_iarchive ar(is);
    T value;
    ar >> value;
    return value;
}
