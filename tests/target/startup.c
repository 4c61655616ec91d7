/*
 * startup.c - reset, vectors, semihosting and stack painting for the
 * element's test firmware on QEMU's mps2-an385 (a Cortex-M3 model).
 *
 * Why these choices:
 *   - Semihosting (BKPT 0xAB) rather than the board's UART: QEMU forwards it
 *     to the host's stdout and turns SYS_EXIT into its own exit status, so
 *     the run needs no serial parsing and a failure is an exit code.
 *   - CCR.UNALIGN_TRP is set before main: the M3 would otherwise perform
 *     unaligned word and halfword accesses silently, which the Cortex-M0+
 *     the element is built for cannot do. main() proves the trap works.
 *   - A HardFault prints the faulting PC and ends the run as a failure,
 *     unless a test announced it expects one (the unaligned-access probe).
 */
#include "target.h"

#include <string.h>

extern uint32_t target_data_start, target_data_end, target_data_load;
extern uint32_t target_bss_start, target_bss_end;
extern uint32_t target_stack_bottom, target_stack_top;

int main(void);
void target_reset(void);
void target_hard_fault(void);
void target_default_handler(void);
__attribute__((used)) void target_fault_report(uint32_t *frame);

volatile unsigned target_faults;
volatile int target_expect_fault;

#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)
#define CCR_UNALIGN_TRP (1u << 3)
#define STACK_PAINT 0xA5A5A5A5u

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR 0x20023

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&target_stack_top),
    target_reset,
    target_default_handler,   /* NMI */
    target_hard_fault,
    target_default_handler, target_default_handler, target_default_handler, 0, 0, 0, 0,
    target_default_handler,   /* SVCall */
    target_default_handler, 0,
    target_default_handler,   /* PendSV */
    target_default_handler,   /* SysTick */
};

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void target_puts(const char *s)
{
    (void)semihost(SYS_WRITE0, s);
}

void target_exit(int status)
{
    (void)semihost(SYS_EXIT, (const void *)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR));
    for (;;)
        ;
}

size_t target_cat(char *line, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at + 1 < cap)
        line[at++] = *s++;
    line[at] = '\0';
    return at;
}

size_t target_cat_dec(char *line, size_t at, size_t cap, uint32_t v)
{
    char digits[11];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && at + 1 < cap)
        line[at++] = digits[--n];
    line[at] = '\0';
    return at;
}

size_t target_cat_hex(char *line, size_t at, size_t cap, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && at + 2 < cap; i++) {
        line[at++] = hex[p[i] >> 4];
        line[at++] = hex[p[i] & 15];
    }
    line[at] = '\0';
    return at;
}

/* noinline: with -flto this would otherwise join its caller's frame and
 * could paint over that frame's live slots below `here`. */
__attribute__((noinline)) void target_stack_paint(void)
{
    uint32_t here;
    /* Leave 64 bytes under this frame alone: they are about to be ours. */
    uint32_t *end = (uint32_t *)((uintptr_t)&here & ~(uintptr_t)3) - 16;
    for (uint32_t *p = &target_stack_bottom; p < end; p++)
        *p = STACK_PAINT;
}

size_t target_stack_used(const void *mark)
{
    const uint32_t *p = &target_stack_bottom;
    while (p < &target_stack_top && *p == STACK_PAINT)
        p++;
    return (size_t)((const uint8_t *)mark - (const uint8_t *)p);
}

void target_reset(void)
{
    memcpy(&target_data_start, &target_data_load,
           (size_t)((uint8_t *)&target_data_end - (uint8_t *)&target_data_start));
    memset(&target_bss_start, 0, (size_t)((uint8_t *)&target_bss_end - (uint8_t *)&target_bss_start));
    SCB_CCR |= CCR_UNALIGN_TRP;
    target_exit(main());
}

/* The exception frame is on the main stack: hand its address to C. A call
 * (bl), not a branch: Thumb-1's b reaches only 2 KiB, and the linker may put
 * target_fault_report farther away. The call overwrites lr, which holds the
 * EXC_RETURN value, so it is saved around the call and popped into pc. */
__attribute__((naked)) void target_hard_fault(void)
{
    __asm__ volatile("mrs r0, msp\n\tpush {r4, lr}\n\tbl target_fault_report\n\tpop {r4, pc}\n");
}

void target_fault_report(uint32_t *frame)
{
    if (target_expect_fault) {
        /* Step over the 16-bit load that faulted and carry on. */
        target_faults++;
        frame[6] += 2;
        return;
    }
    char line[64];
    size_t n = target_cat(line, 0, sizeof(line), "not ok - HardFault at pc 0x");
    uint8_t pc[4] = {(uint8_t)(frame[6] >> 24), (uint8_t)(frame[6] >> 16), (uint8_t)(frame[6] >> 8),
                     (uint8_t)frame[6]};
    n = target_cat_hex(line, n, sizeof(line), pc, 4);
    (void)target_cat(line, n, sizeof(line), "\n");
    target_puts(line);
    target_exit(1);
}

void target_default_handler(void)
{
    target_puts("not ok - unexpected exception\n");
    target_exit(1);
}
