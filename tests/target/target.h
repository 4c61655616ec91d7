/*
 * target.h - the few services the element's test firmware needs from the
 * (emulated) board: text out and exit through ARM semihosting, and a
 * painted stack to measure how deep a call went.
 *
 * Only the test firmware uses this; the element itself (src/se, src/mls,
 * src/lorawan) knows nothing of the board.
 */
#ifndef FERRY_TARGET_H
#define FERRY_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Writes a NUL-terminated string to the host's standard output. */
void target_puts(const char *s);

/* Appends to a line buffer: text, a decimal number, hex bytes. Each
 * returns the new length; a full buffer stops growing (lines are short). */
size_t target_cat(char *line, size_t at, size_t cap, const char *s);
size_t target_cat_dec(char *line, size_t at, size_t cap, uint32_t v);
size_t target_cat_hex(char *line, size_t at, size_t cap, const uint8_t *p, size_t n);

/* Ends the emulation: status 0 for success, anything else for failure. */
void target_exit(int status) __attribute__((noreturn));

/* Fills the free stack below the caller with a pattern; target_stack_used()
 * then tells how many bytes below `mark` (an address in the caller's frame,
 * typically that of a local) were written since. */
void target_stack_paint(void);
size_t target_stack_used(const void *mark);

/* Number of unaligned accesses that trapped while target_expect_fault was
 * set (the HardFault handler stepped over each one). */
extern volatile unsigned target_faults;
extern volatile int target_expect_fault;

#endif
