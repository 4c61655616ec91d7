/*
 * test_lw_secure.c - wiping, constant-time comparison and hex coding.
 *
 * The hex decoder classifies digits with arithmetic masks instead of
 * comparisons, which is exactly the kind of code that is right for the
 * obvious inputs and wrong at the edges of the ASCII ranges. So besides the
 * named classes ('/' just below '0', ':' just above '9', '@' and '`' just
 * below 'A' and 'a', 'G' and 'g' just above 'F' and 'f', NUL, bytes >= 0x80
 * whose low seven bits are a digit) one test tries every byte value in both
 * nibble positions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lorawan/lw_secure.h"
#include "test_util.h"

/* ---- lw_secure_wipe ---------------------------------------------------- */

static void wipe_zeroes_exactly_the_range(void **state)
{
    (void)state;
    uint8_t buf[32];
    memset(buf, 0xAA, sizeof(buf));
    lw_secure_wipe(buf + 8, 16);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], (i >= 8 && i < 24) ? 0x00 : 0xAA);
}

static void wipe_null_or_empty_is_a_noop(void **state)
{
    (void)state;
    uint8_t buf[4] = {1, 2, 3, 4};
    lw_secure_wipe(NULL, 16);
    lw_secure_wipe(buf, 0);
    assert_hex_equal(buf, 4, "01020304");
}

static void wipe_macro_clears_a_whole_struct(void **state)
{
    (void)state;
    struct { uint8_t a[16]; uint32_t b; } s;
    memset(&s, 0x5C, sizeof(s));
    LW_WIPE(s);
    assert_true(tu_all_zero(&s, sizeof(s)));
}

/* ---- lw_secure_equal --------------------------------------------------- */

static void equal_same_bytes_is_1(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    for (int i = 0; i < 16; i++)
        a[i] = b[i] = (uint8_t)(i * 17);
    assert_int_equal(lw_secure_equal(a, b, sizeof(a)), 1);
}

static void equal_any_single_bit_difference_is_0(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    memset(a, 0x3C, sizeof(a));
    for (size_t byte = 0; byte < sizeof(a); byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, a, sizeof(b));
            b[byte] ^= (uint8_t)(1u << bit);
            /* exactly 0, not merely "false": callers may compare to 1 */
            assert_int_equal(lw_secure_equal(a, b, sizeof(a)), 0);
        }
    }
}

static void equal_zero_length_is_1(void **state)
{
    (void)state;
    uint8_t a = 1, b = 2;
    assert_int_equal(lw_secure_equal(&a, &b, 0), 1);
}

static void equal_only_reads_len_bytes(void **state)
{
    (void)state;
    const uint8_t a[4] = {1, 2, 3, 4};
    const uint8_t b[4] = {1, 2, 3, 9};
    assert_int_equal(lw_secure_equal(a, b, 3), 1);
    assert_int_equal(lw_secure_equal(a, b, 4), 0);
}

/* ---- lw_hex_decode: valid input ---------------------------------------- */

static void hex_decode_lowercase(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(lw_hex_decode("00112233445566778899aabbccddeeff", 32, out, 16), LW_OK);
    assert_hex_equal(out, 16, "00112233445566778899AABBCCDDEEFF");
}

static void hex_decode_uppercase(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(lw_hex_decode("70B3D57ED0000001", 16, out, 8), LW_OK);
    const uint8_t expected[8] = {0x70, 0xB3, 0xD5, 0x7E, 0xD0, 0x00, 0x00, 0x01};
    assert_memory_equal(out, expected, 8);
}

static void hex_decode_mixed_case(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(lw_hex_decode("aBcDeF9a", 8, out, 4), LW_OK);
    const uint8_t expected[4] = {0xAB, 0xCD, 0xEF, 0x9A};
    assert_memory_equal(out, expected, 4);
}

static void hex_decode_every_byte_value_both_cases(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 256; v++) {
        char text[3];
        uint8_t out = 0;
        snprintf(text, sizeof(text), "%02x", v);
        assert_int_equal(lw_hex_decode(text, 2, &out, 1), LW_OK);
        assert_int_equal(out, v);
        snprintf(text, sizeof(text), "%02X", v);
        out = 0;
        assert_int_equal(lw_hex_decode(text, 2, &out, 1), LW_OK);
        assert_int_equal(out, v);
    }
}

static void hex_decode_reads_only_2n_chars(void **state)
{
    (void)state;
    /* not NUL-terminated, followed by non-hex bytes the decoder must not read */
    const char text[6] = {'a', 'b', 'c', 'd', 'Z', 'Z'};
    uint8_t out[2];
    assert_int_equal(lw_hex_decode(text, 4, out, 2), LW_OK);
    assert_hex_equal(out, 2, "abcd");
}

static void hex_decode_zero_length(void **state)
{
    (void)state;
    uint8_t out[1] = {0x77};
    assert_int_equal(lw_hex_decode("", 0, out, 0), LW_OK);
    assert_int_equal(out[0], 0x77);
}

/* ---- lw_hex_decode: invalid digits ------------------------------------- */

/* Puts `bad` at every position of an otherwise valid 4-byte value (high and
 * low nibble of the first, a middle and the last byte) and checks the error
 * and that the output holds no partial result. */
static void check_rejected_everywhere(unsigned char bad)
{
    static const char valid[] = "0123456789abcdef";  /* 8 bytes */
    for (size_t pos = 0; pos < 16; pos++) {
        char text[16];
        memcpy(text, valid, 16);
        text[pos] = (char)bad;
        uint8_t out[8];
        memset(out, 0x5A, sizeof(out));
        lw_status st = lw_hex_decode(text, 16, out, 8);
        if (st != LW_ERR_HEX)
            fail_msg("byte 0x%02x at position %zu: status %d, expected LW_ERR_HEX", bad, pos, (int)st);
        if (!tu_all_zero(out, sizeof(out)))
            fail_msg("byte 0x%02x at position %zu: output not wiped", bad, pos);
    }
}

static void hex_decode_rejects_g_lower(void **state)
{
    (void)state;
    check_rejected_everywhere('g');
}

static void hex_decode_rejects_G_upper(void **state)
{
    (void)state;
    check_rejected_everywhere('G');
}

static void hex_decode_rejects_slash_below_0(void **state)
{
    (void)state;
    check_rejected_everywhere('/');
}

static void hex_decode_rejects_colon_above_9(void **state)
{
    (void)state;
    check_rejected_everywhere(':');
}

static void hex_decode_rejects_at_below_A(void **state)
{
    (void)state;
    check_rejected_everywhere('@');
}

static void hex_decode_rejects_backtick_below_a(void **state)
{
    (void)state;
    check_rejected_everywhere('`');
}

static void hex_decode_rejects_nul(void **state)
{
    (void)state;
    check_rejected_everywhere('\0');
}

static void hex_decode_rejects_space_and_punctuation(void **state)
{
    (void)state;
    check_rejected_everywhere(' ');
    check_rejected_everywhere('-');
    check_rejected_everywhere('x');
    check_rejected_everywhere(0x7F);
}

static void hex_decode_rejects_high_bytes(void **state)
{
    (void)state;
    /* 0xB0..0xB9, 0xC1..0xC6 and 0xE1..0xE6 are digits with bit 7 set: the
     * classic trap for mask-based classifiers. Try all of 0x80..0xFF. */
    for (unsigned c = 0x80; c <= 0xFF; c++)
        check_rejected_everywhere((unsigned char)c);
}

static void hex_decode_accepts_exactly_the_22_digits(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        int is_digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        for (int pos = 0; pos < 2; pos++) {
            char text[2] = {'7', '7'};
            text[pos] = (char)c;
            uint8_t out = 0x5A;
            lw_status st = lw_hex_decode(text, 2, &out, 1);
            if (is_digit) {
                assert_int_equal(st, LW_OK);
                unsigned v = (unsigned)tu_nibble((char)c);
                assert_int_equal(out, pos == 0 ? (v << 4) | 7u : 0x70u | v);
            } else {
                if (st != LW_ERR_HEX || out != 0)
                    fail_msg("byte 0x%02x as nibble %d: status %d, out 0x%02x", c, pos, (int)st, out);
            }
        }
    }
}

/* ---- lw_hex_decode: lengths and arguments ------------------------------ */

static void hex_decode_too_short_wipes_output(void **state)
{
    (void)state;
    uint8_t out[4];
    memset(out, 0x5A, sizeof(out));
    assert_int_equal(lw_hex_decode("0011223", 7, out, 4), LW_ERR_HEX);
    assert_true(tu_all_zero(out, sizeof(out)));
    memset(out, 0x5A, sizeof(out));
    assert_int_equal(lw_hex_decode("001122", 6, out, 4), LW_ERR_HEX);
    assert_true(tu_all_zero(out, sizeof(out)));
}

static void hex_decode_too_long_wipes_output(void **state)
{
    (void)state;
    uint8_t out[4];
    memset(out, 0x5A, sizeof(out));
    assert_int_equal(lw_hex_decode("001122334", 9, out, 4), LW_ERR_HEX);
    assert_true(tu_all_zero(out, sizeof(out)));
    memset(out, 0x5A, sizeof(out));
    assert_int_equal(lw_hex_decode("0011223344", 10, out, 4), LW_ERR_HEX);
    assert_true(tu_all_zero(out, sizeof(out)));
}

static void hex_decode_null_arguments(void **state)
{
    (void)state;
    uint8_t out[1];
    assert_int_equal(lw_hex_decode(NULL, 2, out, 1), LW_ERR_ARGUMENT);
    assert_int_equal(lw_hex_decode("00", 2, NULL, 1), LW_ERR_ARGUMENT);
}

/* ---- lw_hex_encode ----------------------------------------------------- */

static void hex_encode_lowercase_with_nul(void **state)
{
    (void)state;
    const uint8_t in[4] = {0x00, 0x9A, 0xBC, 0xFF};
    char out[16];
    memset(out, 'X', sizeof(out));
    assert_int_equal(lw_hex_encode(in, 4, out, sizeof(out)), LW_OK);
    assert_string_equal(out, "009abcff");
}

static void hex_encode_exact_capacity(void **state)
{
    (void)state;
    const uint8_t in[2] = {0xDE, 0xAD};
    char out[5];
    assert_int_equal(lw_hex_encode(in, 2, out, 5), LW_OK);
    assert_string_equal(out, "dead");
}

static void hex_encode_buffer_too_small(void **state)
{
    (void)state;
    const uint8_t in[2] = {0xDE, 0xAD};
    char out[5];
    /* room for the digits but not the NUL: an error, never a shorter string */
    assert_int_equal(lw_hex_encode(in, 2, out, 4), LW_ERR_BUFFER);
    assert_int_equal(lw_hex_encode(in, 2, out, 1), LW_ERR_BUFFER);
    assert_int_equal(lw_hex_encode(in, 2, out, 0), LW_ERR_BUFFER);
}

static void hex_encode_empty(void **state)
{
    (void)state;
    char out[1] = {'X'};
    assert_int_equal(lw_hex_encode(NULL, 0, out, 1), LW_OK);
    assert_int_equal(out[0], '\0');
    assert_int_equal(lw_hex_encode(NULL, 0, out, 0), LW_ERR_BUFFER);
}

static void hex_encode_null_arguments(void **state)
{
    (void)state;
    const uint8_t in[1] = {1};
    char out[3];
    assert_int_equal(lw_hex_encode(NULL, 1, out, 3), LW_ERR_ARGUMENT);
    assert_int_equal(lw_hex_encode(in, 1, NULL, 3), LW_ERR_ARGUMENT);
}

static void hex_round_trip_all_bytes(void **state)
{
    (void)state;
    uint8_t in[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    assert_int_equal(lw_hex_encode(in, 256, text, sizeof(text)), LW_OK);
    assert_int_equal(strlen(text), 512);
    assert_int_equal(lw_hex_decode(text, 512, back, 256), LW_OK);
    assert_memory_equal(in, back, 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wipe_zeroes_exactly_the_range),
        cmocka_unit_test(wipe_null_or_empty_is_a_noop),
        cmocka_unit_test(wipe_macro_clears_a_whole_struct),
        cmocka_unit_test(equal_same_bytes_is_1),
        cmocka_unit_test(equal_any_single_bit_difference_is_0),
        cmocka_unit_test(equal_zero_length_is_1),
        cmocka_unit_test(equal_only_reads_len_bytes),
        cmocka_unit_test(hex_decode_lowercase),
        cmocka_unit_test(hex_decode_uppercase),
        cmocka_unit_test(hex_decode_mixed_case),
        cmocka_unit_test(hex_decode_every_byte_value_both_cases),
        cmocka_unit_test(hex_decode_reads_only_2n_chars),
        cmocka_unit_test(hex_decode_zero_length),
        cmocka_unit_test(hex_decode_rejects_g_lower),
        cmocka_unit_test(hex_decode_rejects_G_upper),
        cmocka_unit_test(hex_decode_rejects_slash_below_0),
        cmocka_unit_test(hex_decode_rejects_colon_above_9),
        cmocka_unit_test(hex_decode_rejects_at_below_A),
        cmocka_unit_test(hex_decode_rejects_backtick_below_a),
        cmocka_unit_test(hex_decode_rejects_nul),
        cmocka_unit_test(hex_decode_rejects_space_and_punctuation),
        cmocka_unit_test(hex_decode_rejects_high_bytes),
        cmocka_unit_test(hex_decode_accepts_exactly_the_22_digits),
        cmocka_unit_test(hex_decode_too_short_wipes_output),
        cmocka_unit_test(hex_decode_too_long_wipes_output),
        cmocka_unit_test(hex_decode_null_arguments),
        cmocka_unit_test(hex_encode_lowercase_with_nul),
        cmocka_unit_test(hex_encode_exact_capacity),
        cmocka_unit_test(hex_encode_buffer_too_small),
        cmocka_unit_test(hex_encode_empty),
        cmocka_unit_test(hex_encode_null_arguments),
        cmocka_unit_test(hex_round_trip_all_bytes),
    };
    return cmocka_run_group_tests_name("lw_secure", tests, NULL, NULL);
}
