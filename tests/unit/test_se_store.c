/*
 * test_se_store.c - the element's flash store (se_store.c) on simulated NOR
 * flash (sehost/se_nvm_ram.c) that refuses what real flash cannot do.
 *
 *   - the flash rules themselves: a unit programmed twice, a misaligned or
 *     page-crossing program, are refused and counted;
 *   - a power cut at every program and every erase of a history of commits
 *     that fills and cycles every page, torn each of 8 ways (nothing, one
 *     byte, half the bits, noise, half the bytes, all but one byte, the
 *     other half of the bits, all of it unacknowledged; for an erase: half a
 *     page, noise, every other byte, all but a slot, bits half set, a noisy
 *     header, all of it): the flash then yields exactly the last committed
 *     state or the one being committed, FCntUp never below a value used,
 *     and the store goes on committing after the tear;
 *   - every single-bit flip of the flash: the store yields a state that was
 *     really committed (or none), never one a flipped bit made up;
 *   - wear: every page erased in turn, and the lifetime aim (10 years at an
 *     uplink a minute on 10,000-cycle pages) met by uplink traffic;
 *   - other geometries (1 KiB pages, 2 to 8 pages, 1-, 2- and 4-byte units);
 *   - a worn-out page (its erase fails) is passed over, not retried forever;
 *   - a purge (se_store_rewrite) leaves no older key in any page, even when
 *     cut short;
 *   - the host's image file: format 2 round trip with erase counts, and a
 *     file of the old two-bank format refused with a sentence saying so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lorawan/lw_frame.h"
#include "se/se_store.h"
#include "sehost/se_nvm_file.h"
#include "sehost/se_nvm_ram.h"

#define B SE_STORE_FCNT_UP_BLOCK

static const uint8_t OLD_KEY[16] = {0x0d, 0x1d, 0x2d, 0x3d, 0x4d, 0x5d, 0x6d, 0x7d,
                                    0x8d, 0x9d, 0xad, 0xbd, 0xcd, 0xdd, 0xed, 0xfd};

static void base_state(se_state *s)
{
    memset(s, 0, sizeof(*s));
    s->lifecycle = SE_LIFECYCLE_OPERATIONAL;
    s->dev_eui = 0x70B3D57ED0001234ull;
    s->serial = 7;
    s->profiles[0].in_use = true;
    s->profiles[0].mac_version = SE_MAC_1_1;
    s->profiles[0].join_eui = 0x70B3D57ED0000001ull;
    memset(s->profiles[0].nwk_key, 0xA1, 16);
    memset(s->profiles[0].app_key, 0xA2, 16);
    s->active_slot = 0;
    s->previous_slot = SE_NO_SLOT;
    s->staged_slot = SE_NO_SLOT;
    s->mls_up_counter = 1;
    memset(s->mls_root_key, 0xA3, 16);
    s->session.valid = true;
    s->session.mac_version = SE_MAC_1_1;
    s->session.dev_addr = 0x26000001u;
}

/* Commit number i of the scripted history: mostly uplinks, with downlinks,
 * MLS commands, new sessions and profile installs mixed in. */
static void step(se_state *s, unsigned i)
{
    s->session.fcnt_up++;
    if (i % 4 == 1)
        s->session.nfcnt_down += 1;     /* one byte: a one-slot entry */
    else if (i % 4 != 0)
        s->session.nfcnt_down += 257;   /* two bytes: an entry with a body */
    if (i % 9 == 3) {
        s->mls_down_counter++;
        s->mls_up_counter++;
    }
    if (i % 25 == 7) {
        s->nonces[0].in_use = true;
        s->nonces[0].join_eui = s->profiles[0].join_eui;
        s->nonces[0].next_dev_nonce++;
        s->session.dev_addr = 0x26000000u + i;
        memset(s->session.app_s_key, (int)i, 16);
        s->session.fcnt_up = 0;
        s->session.nfcnt_down = 0;
    }
    if (i % 40 == 13) {
        se_profile *p = &s->profiles[1];
        p->in_use = true;
        p->id = (uint16_t)i;
        p->mac_version = SE_MAC_1_0_4;
        memset(p->nwk_key, (int)(i * 7), 16);
        s->staged_slot = 1;
    }
}

/* a and b equal in everything but FCntUp, where the flash may hold a value
 * reserved above the one used: b.fcnt_up in [a.fcnt_up, a.fcnt_up + B]. */
static bool same_state(const se_state *a, const se_state *b)
{
    if (b->session.fcnt_up < a->session.fcnt_up || b->session.fcnt_up - a->session.fcnt_up > B)
        return false;
    se_state x = *a, y = *b;
    x.session.fcnt_up = y.session.fcnt_up = 0;
    uint8_t ia[SE_STATE_IMAGE_LEN], ib[SE_STATE_IMAGE_LEN];
    size_t na = 0, nb = 0;
    assert_int_equal(se_state_serialize(&x, ia, sizeof(ia), &na), SE_OK);
    assert_int_equal(se_state_serialize(&y, ib, sizeof(ib), &nb), SE_OK);
    return memcmp(ia, ib, sizeof(ia)) == 0;
}

static void format(se_nvm_ram *r, uint32_t page_size, uint32_t pages, uint32_t unit, se_nvm *nvm)
{
    memset(r, 0, sizeof(*r));
    se_nvm_geometry g = {.page_size = page_size, .page_count = pages, .program_unit = unit};
    assert_int_equal(se_nvm_ram_format(r, &g), SE_OK);
    assert_int_equal(se_nvm_ram_bind(r, nvm), SE_OK);
}

/* A fresh store on nvm, its first commit the base state: *cur. */
static void start(se_store *s, const se_nvm *nvm, se_state *cur)
{
    se_state ignored;
    base_state(cur);
    assert_int_equal(se_store_open(s, nvm, &ignored), SE_ERR_CORRUPT);
    assert_int_equal(se_store_commit(s, cur, cur), SE_OK);
}

/* Commits steps first..last of the script on top of *cur. */
static void commit_steps(se_store *s, se_state *cur, unsigned first, unsigned last)
{
    se_state next = *cur;
    for (unsigned i = first; i <= last; i++) {
        step(&next, i);
        assert_int_equal(se_store_commit(s, cur, &next), SE_OK);
        *cur = next;
    }
}

/* Commits history[1..n] from a fresh flash (history[0] is the first
 * commit's predecessor, never written). Returns the index of the commit
 * that failed, or n + 1. */
static unsigned run(se_nvm_ram *r, const se_state *history, unsigned n)
{
    se_nvm nvm;
    assert_int_equal(se_nvm_ram_bind(r, &nvm), SE_OK);
    se_store s;
    se_state cur;
    assert_int_equal(se_store_open(&s, &nvm, &cur), SE_ERR_CORRUPT);
    cur = history[0];
    for (unsigned k = 1; k <= n; k++) {
        if (se_store_commit(&s, &cur, &history[k]) != SE_OK)
            return k;
        cur = history[k];
    }
    return n + 1;
}

#define HISTORY 100

static se_state *make_history(void)
{
    se_state *h = test_malloc(sizeof(se_state) * (HISTORY + 1));
    base_state(&h[0]);
    for (unsigned k = 1; k <= HISTORY; k++) {
        h[k] = h[k - 1];
        step(&h[k], k);
    }
    return h;
}

/* The fixture of the tests that replay the history: the history, and a
 * 3 x 1 KiB flash holding all of it, written without a cut. */
typedef struct written {
    se_state *h;
    se_nvm_ram *r;
    se_nvm nvm;
} written;

static int history_written(void **state)
{
    written *w = test_malloc(sizeof(*w));
    w->h = make_history();
    w->r = test_malloc(sizeof(*w->r));
    format(w->r, 1024, 3, 8, &w->nvm);
    assert_int_equal(run(w->r, w->h, HISTORY), HISTORY + 1);
    *state = w;
    return 0;
}

static int history_freed(void **state)
{
    written *w = *state;
    test_free(w->r);
    test_free(w->h);
    test_free(w);
    return 0;
}

/* The store finds FCntUp by its offset in the image: a change of the image
 * layout must move SE_STATE_FCNT_UP_OFFSET with it. */
static void test_fcnt_up_offset_matches_the_image(void **state)
{
    (void)state;
    se_state st;
    base_state(&st);
    st.session.fcnt_up = 0xA1B2C3D4u;
    uint8_t image[SE_STATE_IMAGE_LEN];
    size_t n = 0;
    assert_int_equal(se_state_serialize(&st, image, sizeof(image), &n), SE_OK);
    assert_int_equal(lw_get_le(image + SE_STATE_FCNT_UP_OFFSET, 4), 0xA1B2C3D4u);
    uint8_t window[7];
    assert_int_equal(se_state_serialize_window(&st, SE_STATE_FCNT_UP_OFFSET - 3, window, sizeof(window)), SE_OK);
    assert_memory_equal(window, image + SE_STATE_FCNT_UP_OFFSET - 3, sizeof(window));
}

static void test_flash_rules_are_enforced(void **state)
{
    (void)state;
    se_nvm_ram *r = test_malloc(sizeof(*r));
    se_nvm nvm;
    format(r, 1024, 2, 8, &nvm);
    uint8_t d[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, back[16];
    assert_int_equal(nvm.cls->program(nvm.ctx, 0, 8, d, 8), SE_OK);
    assert_int_equal(nvm.cls->program(nvm.ctx, 0, 8, d, 8), SE_ERR_NVM);       /* twice */
    assert_int_equal(nvm.cls->program(nvm.ctx, 0, 4, d, 8), SE_ERR_NVM);       /* misaligned */
    assert_int_equal(nvm.cls->program(nvm.ctx, 0, 1020, d, 8), SE_ERR_NVM);    /* crosses the page end */
    assert_int_equal(nvm.cls->program(nvm.ctx, 2, 0, d, 8), SE_ERR_NVM);       /* no such page */
    assert_int_equal(r->violations, 4);
    assert_int_equal(nvm.cls->read(nvm.ctx, 0, 8, back, 8), SE_OK);
    assert_memory_equal(back, d, 8);
    assert_int_equal(nvm.cls->erase(nvm.ctx, 0), SE_OK);
    assert_int_equal(r->erases[0], 1);
    assert_int_equal(nvm.cls->read(nvm.ctx, 0, 8, back, 8), SE_OK);
    for (int i = 0; i < 8; i++)
        assert_int_equal(back[i], 0xFF);
    assert_int_equal(nvm.cls->program(nvm.ctx, 0, 8, d, 16), SE_OK);   /* erased again: programmable */
    /* A geometry the store cannot use is refused before anything is read. */
    se_store s;
    se_state st;
    nvm.geometry.page_size = 512;
    assert_int_equal(se_store_open(&s, &nvm, &st), SE_ERR_ARGUMENT);
    test_free(r);
}

static void test_power_cut_at_every_program_and_erase(void **state)
{
    written *w = *state;
    se_state *h = w->h;
    se_nvm_ram *r = w->r;
    se_nvm nvm = w->nvm;
    unsigned total = r->writes, moves = 0;
    for (unsigned p = 0; p < 3; p++) {
        assert_true(r->erases[p] >= 2);   /* the history cycles every page */
        moves += r->erases[p];
    }
    print_message("store power cuts: %u programs and erases (%u erases) x %d ways\n", total, moves,
                  SE_NVM_TEAR_WAYS);
    unsigned erase_cuts = 0;
    for (unsigned cut = 1; cut <= total; cut++) {
        for (unsigned tear = 1; tear <= SE_NVM_TEAR_WAYS; tear++) {
            format(r, 1024, 3, 8, &nvm);
            r->cut_at = cut;
            r->tear = tear;
            unsigned k = run(r, h, HISTORY);
            assert_true(k <= HISTORY);
            assert_true(r->power_off);
            r->power_off = false;
            r->cut_at = 0;
            se_store s;
            se_state got;
            se_status st = se_store_open(&s, &nvm, &got);
            if (st == SE_ERR_CORRUPT) {
                assert_int_equal(k, 1);   /* only the formatting commit may leave no state */
                continue;
            }
            assert_int_equal(st, SE_OK);
            assert_true(same_state(&h[k - 1], &got) || same_state(&h[k], &got));
            erase_cuts += r->cut_erase;
            /* Life goes on from what the flash holds, and what it commits
             * after the tear reads back. */
            se_state cur = got;
            commit_steps(&s, &cur, 1000, 1029);
            se_state again;
            assert_int_equal(se_store_open(&s, &nvm, &again), SE_OK);
            assert_true(same_state(&cur, &again));
            assert_int_equal(r->violations, 0);
        }
    }
    print_message("store power cuts: %u of them in an erase\n", erase_cuts);
    assert_true(erase_cuts >= 2 * SE_NVM_TEAR_WAYS);
}

static void test_every_single_bit_flip_yields_a_committed_state(void **state)
{
    written *w = *state;
    se_state *h = w->h;
    se_nvm_ram *r = w->r;
    se_nvm nvm = w->nvm;
    unsigned older = 0, none = 0;
    /* An open may erase (finishing a purge it believes cut short): each
     * flip starts from the same flash. */
    uint8_t *clean = test_malloc(se_nvm_ram_size(r));
    memcpy(clean, r->mem, se_nvm_ram_size(r));
    for (uint32_t byte = 0; byte < se_nvm_ram_size(r); byte++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(r->mem, clean, se_nvm_ram_size(r));
            r->mem[byte] ^= (uint8_t)(1u << bit);
            se_store s;
            se_state got;
            se_status st = se_store_open(&s, &nvm, &got);
            if (st == SE_OK) {
                bool found = false;
                for (int k = HISTORY; k >= 0 && !found; k--)
                    found = same_state(&h[k], &got);
                assert_true(found);
                older += !same_state(&h[HISTORY], &got);
            } else {
                assert_int_equal(st, SE_ERR_CORRUPT);
                none++;
            }
        }
    }
    test_free(clean);
    print_message("bit flips: %u of %u gave an older committed state, %u none\n", older,
                  se_nvm_ram_size(r) * 8, none);
}

static void test_wear_is_spread_and_lasts(void **state)
{
    (void)state;
    se_nvm_ram *r = test_malloc(sizeof(*r));
    se_nvm nvm;
    format(r, 2048, 4, 8, &nvm);
    se_state cur, next;
    se_store s;
    start(&s, &nvm, &cur);
    uint32_t base = r->erases[0] + r->erases[1] + r->erases[2] + r->erases[3];
    const unsigned uplinks = 40000;
    next = cur;
    for (unsigned i = 0; i < uplinks; i++) {
        next.session.fcnt_up++;
        if (i % 10 == 9)
            next.session.nfcnt_down++;   /* a downlink every 10 uplinks */
        assert_int_equal(se_store_commit(&s, &cur, &next), SE_OK);
        cur = next;
    }
    uint32_t most = 0, least = UINT32_MAX;
    for (unsigned p = 0; p < 4; p++) {
        most = r->erases[p] > most ? r->erases[p] : most;
        least = r->erases[p] < least ? r->erases[p] : least;
    }
    assert_true(most - least <= 1);   /* each page in turn */
    assert_true(least >= 2);
    /* 10 years at one a minute = 5,259,600 uplinks within 10,000 erases of
     * the most worn page. */
    double lifetime_uplinks = 10000.0 * uplinks / most;
    print_message("wear: %u erases for %u uplinks, lifetime %.0f uplinks\n",
                  r->erases[0] + r->erases[1] + r->erases[2] + r->erases[3] - base, uplinks, lifetime_uplinks);
    assert_true(lifetime_uplinks >= 5259600.0);
    se_state back;
    assert_int_equal(se_store_open(&s, &nvm, &back), SE_OK);
    assert_true(same_state(&cur, &back));
    assert_int_equal(r->violations, 0);
    test_free(r);
}

static void test_other_geometries(void **state)
{
    (void)state;
    static const se_nvm_geometry gs[] = {{1024, 2, 8}, {1024, 8, 4}, {2048, 4, 8}, {4096, 2, 2}, {1024, 5, 1}};
    se_nvm_ram *r = test_malloc(sizeof(*r));
    for (size_t g = 0; g < sizeof(gs) / sizeof(gs[0]); g++) {
        se_nvm nvm;
        format(r, gs[g].page_size, gs[g].page_count, gs[g].program_unit, &nvm);
        se_state cur, back;
        se_store s;
        start(&s, &nvm, &cur);
        for (unsigned i = 1; i <= 600; i += 50) {
            commit_steps(&s, &cur, i, i + 49);
            assert_int_equal(se_store_open(&s, &nvm, &back), SE_OK);   /* a reboot every 50 */
            assert_true(same_state(&cur, &back));
            cur = back;
        }
        for (unsigned p = 0; p < gs[g].page_count; p++)
            assert_true(r->erases[p] >= 1);
        assert_int_equal(r->violations, 0);
    }
    test_free(r);
}

/* A flash whose page 2 is worn out: every erase of it fails. */
static se_status worn_erase(void *ctx, uint32_t page)
{
    se_nvm_ram *r = ctx;
    se_nvm inner;
    assert_int_equal(se_nvm_ram_bind(r, &inner), SE_OK);
    return page == 2 ? SE_ERR_NVM : inner.cls->erase(ctx, page);
}

static void test_a_worn_page_is_passed_over(void **state)
{
    (void)state;
    se_nvm_ram *r = test_malloc(sizeof(*r));
    se_nvm nvm;
    format(r, 1024, 4, 8, &nvm);
    se_nvm_class worn = *nvm.cls;
    worn.erase = worn_erase;
    nvm.cls = &worn;
    se_state cur, next, back;
    se_store s;
    start(&s, &nvm, &cur);
    next = cur;
    unsigned failed = 0;
    for (unsigned i = 1; i <= 400; i++) {
        step(&next, i);
        if (se_store_commit(&s, &cur, &next) != SE_OK) {
            failed++;   /* the operation fails once; its retry goes to the next page */
            assert_int_equal(se_store_commit(&s, &cur, &next), SE_OK);
        }
        cur = next;
    }
    assert_int_equal(failed, 1);   /* passed over for the rest of the boot */
    assert_int_equal(r->erases[2], 0);
    assert_true(r->erases[0] >= 3 && r->erases[1] >= 3 && r->erases[3] >= 3);
    assert_int_equal(se_store_open(&s, &nvm, &back), SE_OK);
    assert_true(same_state(&cur, &back));
    assert_int_equal(r->violations, 0);
    test_free(r);
}

static bool flash_holds(const se_nvm_ram *r, const uint8_t key[16])
{
    for (size_t i = 0; i + 16 <= se_nvm_ram_size(r); i++)
        if (memcmp(r->mem + i, key, 16) == 0)
            return true;
    return false;
}

static void test_rewrite_leaves_no_older_key(void **state)
{
    (void)state;
    se_nvm_ram *r = test_malloc(sizeof(*r));
    /* Count the operations of the whole scenario once, then cut at each
     * operation of the purge. */
    unsigned total = 0, purge_from = 0;
    for (unsigned cut = 0; cut == 0 || cut <= total; cut++) {
        for (unsigned tear = 1; tear <= (cut == 0 ? 1u : SE_NVM_TEAR_WAYS); tear++) {
            se_nvm nvm;
            format(r, 1024, 4, 8, &nvm);
            se_state cur, next;
            se_store s;
            start(&s, &nvm, &cur);
            next = cur;
            memcpy(next.transport_key, OLD_KEY, 16);
            assert_int_equal(se_store_commit(&s, &cur, &next), SE_OK);
            cur = next;
            commit_steps(&s, &cur, 1, 60);   /* pages move: the key is in several */
            next = cur;
            assert_true(flash_holds(r, OLD_KEY));
            if (cut == 0) {
                purge_from = r->writes + 1;
            } else {
                r->cut_at = purge_from + cut - 1;
                r->tear = tear;
            }
            memset(next.transport_key, 0, 16);
            se_status st = se_store_rewrite(&s, &next);
            if (cut == 0) {
                assert_int_equal(st, SE_OK);
                total = r->writes - purge_from + 1;
                assert_false(flash_holds(r, OLD_KEY));
                continue;
            }
            r->power_off = false;
            r->cut_at = 0;
            se_state got;
            assert_int_equal(se_store_open(&s, &nvm, &got), SE_OK);
            assert_true(same_state(&cur, &got) || same_state(&next, &got));
            if (same_state(&next, &got))
                assert_false(flash_holds(r, OLD_KEY));   /* the open finished the purge */
            assert_int_equal(r->violations, 0);
        }
    }
    test_free(r);
}

static void test_image_file_round_trip_and_old_format(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/se.img", dir);

    se_nvm_file *f = test_malloc(sizeof(*f));
    se_nvm nvm;
    assert_int_equal(se_nvm_file_open(f, path, 1, &nvm), SE_OK);
    assert_int_equal(nvm.geometry.page_size, 2048);
    se_state cur, got;
    se_store s;
    start(&s, &nvm, &cur);
    commit_steps(&s, &cur, 1, 200);
    uint32_t erases[SE_NVM_PAGES_MAX];
    memcpy(erases, f->flash.erases, sizeof(erases));
    se_nvm_file_close(f);

    assert_int_equal(se_nvm_file_open(f, path, 0, &nvm), SE_OK);
    assert_memory_equal(f->flash.erases, erases, sizeof(erases));   /* wear survives restarts */
    assert_int_equal(se_store_open(&s, &nvm, &got), SE_OK);
    assert_true(same_state(&cur, &got));
    se_nvm_file_close(f);

    /* The lab's way: the whole file into RAM and back. */
    se_nvm_ram *r = test_malloc(sizeof(*r));
    const char *why = NULL;
    assert_int_equal(se_nvm_file_load(path, r, &why), SE_OK);
    assert_int_equal(se_nvm_file_save(path, r), SE_OK);
    assert_int_equal(se_nvm_file_open(f, path, 0, &nvm), SE_OK);
    assert_int_equal(se_store_open(&s, &nvm, &got), SE_OK);
    assert_true(same_state(&cur, &got));
    se_nvm_file_close(f);

    /* A file of the two-bank format: refused, saying why. */
    uint8_t old[2048];
    memset(old, 0, sizeof(old));
    memcpy(old + 1024, "FSE1", 4);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, old, sizeof(old)), (ssize_t)sizeof(old));
    close(fd);
    assert_int_equal(se_nvm_file_open(f, path, 0, &nvm), SE_ERR_CORRUPT);
    assert_non_null(strstr(se_nvm_file_error(f), "two-bank format"));
    assert_int_equal(se_nvm_file_load(path, r, &why), SE_ERR_CORRUPT);
    assert_non_null(strstr(why, "two-bank format"));
    /* A damaged header is refused too. */
    assert_int_equal(se_nvm_file_save(path, r), SE_OK);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 20), 1);
    close(fd);
    assert_int_equal(se_nvm_file_open(f, path, 0, &nvm), SE_ERR_CORRUPT);
    assert_non_null(strstr(se_nvm_file_error(f), "damaged"));

    test_free(r);
    test_free(f);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fcnt_up_offset_matches_the_image),
        cmocka_unit_test(test_flash_rules_are_enforced),
        cmocka_unit_test_setup_teardown(test_power_cut_at_every_program_and_erase, history_written, history_freed),
        cmocka_unit_test_setup_teardown(test_every_single_bit_flip_yields_a_committed_state, history_written,
                                        history_freed),
        cmocka_unit_test(test_wear_is_spread_and_lasts),
        cmocka_unit_test(test_other_geometries),
        cmocka_unit_test(test_a_worn_page_is_passed_over),
        cmocka_unit_test(test_rewrite_leaves_no_older_key),
        cmocka_unit_test(test_image_file_round_trip_and_old_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
