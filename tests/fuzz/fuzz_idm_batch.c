/*
 * fuzz_idm_batch.c - libFuzzer target for the IDM's batch-line parser.
 *
 * For every input, idm_batch_line_parse():
 *   - on failure: the output record is all zeros (wiped) and the message is
 *     a terminated, non-empty string;
 *   - on success: idm_batch_line_format() writes the line back, the written
 *     line parses again to the same record (format is canonical), and the
 *     QR payload is the TR005 form of it.
 * Sanitizers catch reads past `size`; the checks above catch logic errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "idm/idm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                \
    do {                           \
        if (!(cond))               \
            __builtin_trap();      \
    } while (0)

static int all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= b[i];
    return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    idm_batch_line l, again;
    char err[IDM_ERR_MAX];
    memset(err, 'x', sizeof err);
    if (idm_batch_line_parse((const char *)data, size, &l, err) != IDM_OK) {
        CHECK(all_zero(&l, sizeof l));
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        return 0;
    }
    char text[1024];
    size_t len = 0;
    CHECK(idm_batch_line_format(&l, text, sizeof text, &len) == IDM_OK);
    CHECK(len > 0 && text[len - 1] == '\n');
    CHECK(idm_batch_line_parse(text, len, &again, err) == IDM_OK);
    /* The QR (when the input had none) carries the ProfileID read from it: 0. */
    CHECK(memcmp(&l, &again, sizeof l) == 0);
    char qr[IDM_QR_MAX];
    idm_qr_payload(&l, qr);
    CHECK(strncmp(qr, "LW:D0:", 6) == 0 && strlen(qr) == 82);
    return 0;
}
