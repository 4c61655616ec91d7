/*
 * hub_route.c - where a message goes (routes by ReceiverID), who sent it
 * (members by SenderID), and which credential the hub presents.
 *
 * JoinEUIs are matched by prefix, the longest first, as The Things Stack
 * and ChirpStack route to Join Servers; NetIDs and AS-IDs exactly. Lists
 * are short (at most 64 entries) and read-only after start, so a linear
 * scan is the whole data structure.
 */
#include "hub/hub.h"

#include <string.h>

static uint64_t mask_of(unsigned bits)
{
    return bits == 0 ? 0 : ~0ULL << (64 - bits);
}

const hub_route *hub_route_find(const hub_config *cfg, const bi_id *receiver)
{
    if (cfg == NULL || receiver == NULL)
        return NULL;
    const hub_route *best = NULL;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const hub_route *r = &cfg->routes[i];
        if (r->kind != receiver->kind)
            continue;
        switch (r->kind) {
        case BI_ID_EUI:
            if ((receiver->value & mask_of(r->bits)) == (r->prefix & mask_of(r->bits)) &&
                (best == NULL || r->bits > best->bits))
                best = r;
            break;
        case BI_ID_NET_ID:
            if (receiver->value == r->prefix)
                return r;
            break;
        case BI_ID_NAME:
            if (strcmp(receiver->raw, r->name) == 0)
                return r;
            break;
        }
    }
    return best;
}

const char *hub_route_bearer(const hub_config *cfg, const hub_route *route, const bi_id *sender)
{
    if (cfg == NULL || route == NULL)
        return NULL;
    size_t idx = (size_t)(route - cfg->routes);
    for (size_t i = 0; sender != NULL && i < cfg->n_creds; i++) {
        const hub_cred *c = &cfg->creds[i];
        if (c->route == idx && bi_id_equal(&c->sender, sender))
            return c->token;
    }
    return route->token[0] != '\0' ? route->token : NULL;
}

const hub_member *hub_member_find(const hub_config *cfg, const bi_id *sender)
{
    if (cfg == NULL || sender == NULL)
        return NULL;
    const hub_member *best = NULL;
    for (size_t i = 0; i < cfg->n_members; i++) {
        const hub_member *m = &cfg->members[i];
        if (m->id.kind != sender->kind)
            continue;
        if (m->id.kind == BI_ID_EUI) {
            if ((sender->value & mask_of(m->bits)) == (m->id.value & mask_of(m->bits)) &&
                (best == NULL || m->bits > best->bits))
                best = m;
        } else if (bi_id_equal(&m->id, sender)) {
            return m;
        }
    }
    return best;
}
