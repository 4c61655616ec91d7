/*
 * store_idm_lease.c - per-SE leases of the IDM's delivery engines
 * (store_idm_lease.h), in one upsert that both databases run unchanged.
 *
 * Taking a lease is INSERT ... ON CONFLICT DO UPDATE ... WHERE: the row is
 * written only when it is new, expired or already ours, and the number of
 * rows written says whether we hold it. On PostgreSQL the conflicting row is
 * locked and the WHERE is evaluated on its newest committed version, so two
 * instances racing for one SE cannot both see "expired" and both win; on
 * SQLite the statement runs under the database's writer lock.
 */
#include "store/store_idm_lease.h"
#include "store/store_driver.h"

#include <string.h>

static bool owner_ok(const char *owner)
{
    if (owner == NULL)
        return false;
    size_t n = strnlen(owner, STORE_IDM_LEASE_OWNER_MAX + 1);
    return n >= 1 && n <= STORE_IDM_LEASE_OWNER_MAX;
}

static const char LEASE_TAKE[] =
    "INSERT INTO idm_lease (dev_eui, owner, expires_at) VALUES ($1, $2, $4) "
    "ON CONFLICT (dev_eui) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
    "WHERE idm_lease.owner = excluded.owner OR idm_lease.expires_at <= $3";

store_status store_idm_lease_take(store *s, uint64_t dev_eui, const char *owner, int64_t now, int64_t until)
{
    if (s == NULL || !owner_ok(owner) || until <= now)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(owner), SV_INT(now), SV_INT(until)};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, LEASE_TAKE, p, 4, NULL, NULL, &changes);
    if (st == STORE_OK && changes != 1)
        st = STORE_ERR_BUSY;
    return st;
}

store_status store_idm_lease_give_back(store *s, uint64_t dev_eui, const char *owner)
{
    if (s == NULL || !owner_ok(owner))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(owner)};
    return s->drv->exec(s, "DELETE FROM idm_lease WHERE dev_eui = $1 AND owner = $2", p, 2, NULL, NULL, NULL);
}

typedef struct lease_out {
    char *owner;
    int64_t until;
    bool found;
} lease_out;

static store_status lease_row(void *ctx, const store_value *c, size_t n)
{
    lease_out *o = ctx;
    if (n < 2 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_INT || !owner_ok(c[0].text))
        return STORE_ERR_CORRUPT;
    memcpy(o->owner, c[0].text, strlen(c[0].text) + 1);
    o->until = c[1].i;
    o->found = true;
    return STORE_OK;
}

store_status store_idm_lease_get(store *s, uint64_t dev_eui, char owner[STORE_IDM_LEASE_OWNER_MAX + 1],
                                 int64_t *until)
{
    if (s == NULL || owner == NULL || until == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    lease_out o = {.owner = owner};
    owner[0] = '\0';
    *until = 0;
    store_status st =
        s->drv->exec(s, "SELECT owner, expires_at FROM idm_lease WHERE dev_eui = $1", p, 1, lease_row, &o, NULL);
    if (st == STORE_OK && !o.found)
        st = STORE_ERR_NOT_FOUND;
    if (st == STORE_OK)
        *until = o.until;
    return st;
}
