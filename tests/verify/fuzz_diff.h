/*
 * fuzz_diff.h - the differential fuzz target (fuzz_diff.c) as the replay
 * driver and libFuzzer see it.
 */
#ifndef CMAP_VERIFY_FUZZ_DIFF_H
#define CMAP_VERIFY_FUZZ_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: decode, run on every backend and the model,
 * abort() on any difference.  Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_counts {
	unsigned long inputs;   /* inputs run */
	unsigned long ops;      /* operations applied, all backends */
	unsigned long armed;    /* allocation failures armed */
	unsigned long injected; /* allocations actually refused */
	unsigned long enomem;   /* CMAP_ENOMEM results checked */
};
extern struct fuzz_counts fuzz_counts;

/* Fill buf with a structured random input (biased towards operations
 * that grow tables and arm allocation failures); returns its length. */
size_t fuzz_generate(uint64_t seed, uint8_t *buf, size_t cap);

#endif
