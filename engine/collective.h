// The only way tensor parallelism reaches the engine and the compressors: a few collectives over
// the ranks of one tensor-parallel group. The single-rank implementation does nothing.
#pragma once
#include <cstdint>
#include <vector>

struct collective {
    virtual ~collective() = default;
    virtual int rank() const { return 0; }
    virtual int size() const { return 1; }
    // In-place sum over the group. Order of summation is rank order (0..size-1) on every rank.
    virtual void all_reduce_sum(float* data, int64_t count) { (void)data; (void)count; }
    // Gather `count` floats from every rank; out holds size()*count floats in rank order.
    virtual void all_gather(const float* data, int64_t count, float* out) {
        for (int64_t i = 0; i < count; ++i) out[i] = data[i];
    }
    // Broadcast from rank 0.
    virtual void broadcast(void* data, int64_t bytes) { (void)data; (void)bytes; }
};

// A process-wide single-rank collective, for code paths without tensor parallelism.
collective& collective_single();
