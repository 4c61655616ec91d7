/*
 * se_life_target.c - the element's whole life on an emulated Cortex-M.
 *
 * Replays the transcript that se_life_gen wrote on the host (factory,
 * personalisation, a 1.1 join, uplinks, power cycles, rejoins, downlinks,
 * MLS commands from the Identity Manager and their sealed answers, a secure
 * command and its reply) into the element built for the Cortex-M0+ with
 * its compact AES, and requires the same response bytes for every APDU.
 * Each APDU is received into one buffer and answered in it, as on a smart
 * card. Around each APDU (and se_boot, se_manufacture) the free stack is
 * painted, so the run also measures the deepest stack the element needed.
 *
 * Output is TAP on semihosting, then "# se-target: ..." lines that
 * bench/se_footprint.sh reads.
 */
#include <string.h>

#include "lorawan/lw_crypto.h"
#include "se/se_apdu.h"
#include "target_flash.h"
#include "target.h"

typedef struct life_step {
    char kind;              /* 'M' manufacture, 'B' boot from NVM, 'A' APDU */
    const char *name;
    unsigned cmd_off, cmd_len, resp_off, resp_len;
} life_step;

#include "se_life_transcript.h"

#define LINE 160

static se element;
static target_flash flash;
/* One APDU buffer for the command and its answer, as on a smart card. */
static uint8_t apdu[SE_APDU_BUFFER];

static unsigned test_number;
static uint16_t stack_by_ins[256];   /* deepest stack seen per instruction */

static void report(int ok, const char *name, const char *detail)
{
    char line[LINE];
    size_t n = target_cat(line, 0, sizeof(line), ok ? "ok " : "not ok ");
    n = target_cat_dec(line, n, sizeof(line), ++test_number);
    n = target_cat(line, n, sizeof(line), " - ");
    n = target_cat(line, n, sizeof(line), name);
    if (detail != NULL) {
        n = target_cat(line, n, sizeof(line), " # ");
        n = target_cat(line, n, sizeof(line), detail);
    }
    (void)target_cat(line, n, sizeof(line), "\n");
    target_puts(line);
}

/* The element's calls, each in a frame of its own. Built with -flto, the
 * element's entry points may be inlined into their caller: these noinline
 * frames are where that happens, always below the measuring frame's mark,
 * so the painted stack counts every byte the element used (and a few of
 * this harness's, on the safe side). */
__attribute__((noinline)) static void run_apdu(size_t len, size_t *resp_len)
{
    (void)se_apdu_process(&element, apdu, len, apdu, sizeof(apdu), resp_len);
}

__attribute__((noinline)) static se_status run_start(const se_nvm *nvm, const uint8_t *transport_key)
{
    return transport_key != NULL ? se_manufacture(&element, nvm, lw_crypto_compact(), transport_key)
                                 : se_boot(&element, nvm, lw_crypto_compact());
}

/* One APDU, received into the APDU buffer and answered there, with the
 * stack painted around it; returns the bytes of stack it used below this
 * frame. */
__attribute__((noinline)) static size_t measured_apdu(const uint8_t *cmd, size_t len, size_t *resp_len)
{
    uint32_t mark;
    memcpy(apdu, cmd, len);
    target_stack_paint();
    run_apdu(len, resp_len);
    return target_stack_used(&mark);
}

/* se_boot or se_manufacture (manufacture when transport_key is set), with
 * the stack painted around it. */
__attribute__((noinline)) static size_t measured_start(const se_nvm *nvm, const uint8_t *transport_key, int *ok)
{
    uint32_t mark;
    target_stack_paint();
    *ok = run_start(nvm, transport_key) == SE_OK;
    return target_stack_used(&mark);
}

/* An unaligned word load must trap, as on a Cortex-M0+. */
static void unaligned_access_traps(void)
{
    static uint32_t words[2] = {0x11223344u, 0x55667788u};
    const uint8_t *odd = (const uint8_t *)words + 1;
    uint32_t v;
    target_expect_fault = 1;
    __asm__ volatile("ldr %0, [%1]" : "=l"(v) : "l"(odd) : "memory");
    target_expect_fault = 0;
    (void)v;
    report(target_faults == 1, "an unaligned word load traps (CCR.UNALIGN_TRP, as on a Cortex-M0+)", NULL);
}

int main(void)
{
    unsigned failed = 0;
    size_t worst = 0;
    uint8_t worst_ins = 0;
    const char *worst_name = "";
    size_t start_stack = 0;   /* se_boot and se_manufacture */
    target_puts("TAP version 13\n");
    unaligned_access_traps();
    failed += target_faults != 1;
    se_nvm nvm = target_flash_bind(&flash);
    for (size_t i = 0; i < sizeof(life_steps) / sizeof(life_steps[0]); i++) {
        const life_step *s = &life_steps[i];
        int ok = 0;
        if (s->kind == 'M' || s->kind == 'B') {
            size_t used = measured_start(&nvm, s->kind == 'M' ? life_transport_key : NULL, &ok);
            if (used > worst) {
                worst = used;
                worst_ins = 0;
                worst_name = s->name;
            }
            if (used > start_stack)
                start_stack = used;
        } else {
            size_t got = 0;
            size_t used = measured_apdu(life_bytes + s->cmd_off, s->cmd_len, &got);
            ok = got == s->resp_len && memcmp(apdu, life_bytes + s->resp_off, got) == 0;
            uint8_t ins = life_bytes[s->cmd_off + 1];
            if (used > stack_by_ins[ins])
                stack_by_ins[ins] = (uint16_t)used;
            if (used > worst) {
                worst = used;
                worst_ins = life_bytes[s->cmd_off + 1];
                worst_name = s->name;
            }
        }
        report(ok, s->name, NULL);
        failed += !ok;
    }

    char line[LINE];
    size_t n = target_cat(line, 0, sizeof(line), "# stack by instruction:");
    for (unsigned ins = 0; ins < 256; ins++) {
        if (stack_by_ins[ins] == 0)
            continue;
        uint8_t b = (uint8_t)ins;
        n = target_cat(line, n, sizeof(line), " ");
        n = target_cat_hex(line, n, sizeof(line), &b, 1);
        n = target_cat(line, n, sizeof(line), "=");
        n = target_cat_dec(line, n, sizeof(line), stack_by_ins[ins]);
    }
    (void)target_cat(line, n, sizeof(line), "\n");
    target_puts(line);
    n = target_cat(line, 0, sizeof(line), "# stack of se_boot/se_manufacture: ");
    n = target_cat_dec(line, n, sizeof(line), (uint32_t)start_stack);
    (void)target_cat(line, n, sizeof(line), "\n");
    target_puts(line);
    n = target_cat(line, 0, sizeof(line), "# se-target: stack=");
    n = target_cat_dec(line, n, sizeof(line), (uint32_t)worst);
    n = target_cat(line, n, sizeof(line), " worst-ins=0x");
    n = target_cat_hex(line, n, sizeof(line), &worst_ins, 1);
    n = target_cat(line, n, sizeof(line), " (");
    n = target_cat(line, n, sizeof(line), worst_name);
    n = target_cat(line, n, sizeof(line), ") context=");
    n = target_cat_dec(line, n, sizeof(line), (uint32_t)sizeof(se));
    n = target_cat(line, n, sizeof(line), " nvm-writes=");
    n = target_cat_dec(line, n, sizeof(line), flash.writes);
    (void)target_cat(line, n, sizeof(line), "\n");
    target_puts(line);
    target_puts(failed == 0 ? "# se-target: all answers byte for byte as on the host\n" : "# se-target: FAILED\n");
    return failed == 0 ? 0 : 1;
}
