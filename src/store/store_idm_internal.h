/*
 * store_idm_internal.h - helpers shared by the IDM's store files
 * (store_idm_tenant.c, store_idm_keys.c); not part of the store's API.
 */
#ifndef FERRY_STORE_IDM_INTERNAL_H
#define FERRY_STORE_IDM_INTERNAL_H

#include "store/store_driver.h"

/* Result rows collected into out[cap] (a row callback's context). */
typedef struct rows {
    void *out;
    size_t cap, count;
} rows;

/* A TEXT column into dst[cap]; NULL gives "" when null_ok. CORRUPT when it does not fit. */
store_status store_idm_copy_text(char *dst, size_t cap, const store_value *v, bool null_ok);

/* Row callback: column 0 an EUI into ((uint64_t *)rows.out)[count]. */
store_status store_idm_eui_row(void *ctx, const store_value *c, size_t n);

/* One page of a DevEUI list: runs sql with $1 = the cursor (*after as
 * text, "" when after is NULL), $2 = cap, $3.. = extra[n_extra] (at most 2);
 * the SQL must select dev_eui > $1 in DevEUI order LIMIT $2. */
store_status store_idm_eui_page(store *s, const char *sql, const store_value *extra, size_t n_extra,
                                const uint64_t *after, uint64_t *out, size_t cap, size_t *count);

#endif
