// AVX2 helpers shared by the kernel files (engine/ops*.cpp); not part of the engine's interface.
#pragma once
#include <immintrin.h>

// Horizontal sum in a fixed tree order.
inline float hsum8(__m256 v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}
