/* SPDX-License-Identifier: MIT */
/* The library's one random generator (bp_rng: splitmix64 seeds
 * xoshiro256**) and the shuffle built on it; the checker and the tools
 * draw from it too. */
#include "bp_private.h"

#include <math.h>

/* ---- random numbers: splitmix64 seeds xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The generator functions cannot fail; a NULL rng gives 0 (and seeding
 * it does nothing) rather than a crash. */
void bp_rng_seed(bp_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    if (!rng)
        return;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t bp_rng_next(bp_rng *rng)
{
    uint64_t *s, result, t;
    if (!rng)
        return 0;
    s = rng->s;
    result = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bp_rng_uniform(bp_rng *rng)
{
    return (double)(bp_rng_next(rng) >> 11) * 0x1.0p-53;
}

double bp_rng_normal(bp_rng *rng)
{
    /* Box–Muller; 1 − u is in (0, 1], so the log is finite. */
    double u, v;
    if (!rng)
        return 0.0;
    u = 1.0 - bp_rng_uniform(rng);
    v = bp_rng_uniform(rng);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

size_t bp_rng_below(bp_rng *rng, size_t n)
{
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit, r;
    if (n == 0 || !rng)
        return 0;
    limit = UINT64_MAX - UINT64_MAX % (uint64_t)n;
    do
        r = bp_rng_next(rng);
    while (r >= limit);
    return (size_t)(r % (uint64_t)n);
}

void bp_shuffle(size_t *idx, size_t n, bp_rng *rng)
{
    if (!idx || !rng)
        return;
    for (size_t i = n; i > 1; i--) {
        size_t j = bp_rng_below(rng, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
