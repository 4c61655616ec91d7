/*
 * idm_serve_ops.c - the tenants' REST API for what comes after the first
 * profile (docs/idm.md, "Operations" and "Relay"):
 *
 *   POST /api/v1/ses/{DevEUI}/transfer      {"Tenant": T, "JoinServer": id?}
 *   POST /api/v1/ses/{DevEUI}/renew
 *   POST /api/v1/ses/{DevEUI}/return
 *   POST /api/v1/ses/{DevEUI}/commands      {"Payload": hex}          -> {"Seq": n}
 *   GET  /api/v1/ses/{DevEUI}/commands/{n}  state, result, reply
 *   POST /api/v1/ses/{DevEUI}/relay         {"FRMPayload": hex, "MaxDownlinkPayload": n}
 *   POST /api/v1/fleet/{transfer|renew|return|commands}  {"DevEUIs": [...], ...the same fields}
 *
 * Who may do what is idm_authorize's (idm_authz.h), asked for every SE
 * before anything is read or changed: the customer holding the SE; the
 * maker of its batch, to read it and, while no customer holds it, for a
 * command or a return; each tenant only its own commands. Relay is for
 * the networks the SE is on: its holder, and during a transfer the owner
 * it is leaving, whose network carries the new profile to it. Anyone else
 * gets 404, as if the SE did not exist. A fleet request answers 200 with one result per SE; each SE
 * is its own transaction, and the lock is given up between SEs so that the
 * housekeeping thread is not kept waiting; uplinks are, since libmicrohttpd
 * serves them on the same thread (docs/idm.md says what that costs).
 */
#include "idm/idm_serve_ops.h"
#include "idm/idm_access.h"
#include "lorawan/lw_secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum op_kind { OP_TRANSFER, OP_RENEW, OP_RETURN, OP_COMMAND, OP_NONE } op_kind;

static unsigned code_of(idm_status st)
{
    switch (st) {
    case IDM_OK:
        return 202;
    case IDM_ERR_NOT_FOUND:
        return 404;
    case IDM_ERR_FORBIDDEN:
        return 403;
    case IDM_ERR_ILLEGAL:
    case IDM_ERR_BUSY:
    case IDM_ERR_LOCKED:
    case IDM_ERR_EXISTS:
        return 409;
    case IDM_ERR_ARGUMENT:
    case IDM_ERR_INPUT:
        return 400;
    case IDM_ERR_REMOTE:
        return 502;
    case IDM_ERR_TOO_BIG:
        return 413;
    default:
        return 500;
    }
}

static bool parse_eui(const char *s, uint64_t *out)
{
    if (s == NULL || strlen(s) != 16)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d > 15)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

static char *dump(json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static char *error_body(const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "Error", json_string(msg));
    return dump(o);
}

static op_kind op_named(const char *name)
{
    return strcmp(name, "transfer") == 0   ? OP_TRANSFER
           : strcmp(name, "renew") == 0    ? OP_RENEW
           : strcmp(name, "return") == 0   ? OP_RETURN
           : strcmp(name, "commands") == 0 ? OP_COMMAND
                                           : OP_NONE;
}

typedef struct op_args {
    const char *to_tenant, *to_js;
    uint8_t payload[MLS_SECURE_MAX];
    size_t payload_len;
} op_args;

static bool args_parse(op_kind k, json_t *body, op_args *a, const char **why)
{
    memset(a, 0, sizeof *a);
    if (k == OP_TRANSFER) {
        a->to_tenant = json_string_value(json_object_get(body, "Tenant"));
        a->to_js = json_string_value(json_object_get(body, "JoinServer"));
        if (a->to_tenant == NULL) {
            *why = "Tenant (the new owner) is required";
            return false;
        }
    } else if (k == OP_COMMAND) {
        const char *hex = json_string_value(json_object_get(body, "Payload"));
        size_t hl = hex != NULL ? strlen(hex) : 0;
        if (hl == 0 || hl % 2 != 0 || hl / 2 > MLS_SECURE_MAX || lw_hex_decode(hex, hl, a->payload, hl / 2) != LW_OK) {
            *why = "Payload: 1 to 1003 bytes in hex";
            return false;
        }
        a->payload_len = hl / 2;
    }
    return true;
}

static idm_action action_of(op_kind k)
{
    switch (k) {
    case OP_TRANSFER: return IDM_ACT_TRANSFER;
    case OP_RENEW: return IDM_ACT_RENEW;
    case OP_RETURN: return IDM_ACT_RETURN;
    default: return IDM_ACT_COMMAND;
    }
}

/* The one question before anything is read or changed for a tenant
 * (idm_authz.h); a refusal's status and text, uniform for what the tenant
 * may not know of. */
static idm_status allowed(const idm_serve_ops_ctx *x, const store_idm_tenant *t, idm_action act, uint64_t dev,
                          int64_t seq, char err[IDM_ERR_MAX])
{
    idm_actor a = idm_actor_of_tenant(t);
    const char *why = NULL;
    idm_status st = idm_access_check(x->db, &a, act, dev, seq, &why);
    if (st != IDM_OK)
        snprintf(err, IDM_ERR_MAX, "%s", st == IDM_ERR_NOT_FOUND ? "no such secure element"
                                         : why != NULL ? why : idm_strerror(st));
    return st;
}

/* One operation on one SE, once idm_authorize allowed it: a customer acts
 * as the holder (checked again in the operation's transaction); a maker,
 * allowed only on its own SEs that no customer holds, as the operator. */
static idm_status run(const idm_serve_ops_ctx *x, const store_idm_tenant *t, op_kind k, uint64_t dev,
                      const op_args *a, int64_t *seq, char err[IDM_ERR_MAX])
{
    idm_status ok = allowed(x, t, action_of(k), dev, 0, err);
    if (ok != IDM_OK)
        return ok;
    const char *as = idm_actor_of_tenant(t).kind == IDM_ACTOR_MAKER ? NULL : t->id;
    char actor[96];
    snprintf(actor, sizeof actor, "tenant:%s", t->id);
    switch (k) {
    case OP_TRANSFER:
        return idm_transfer(x->hs, x->db, dev, as, a->to_tenant, a->to_js, x->pol, actor, err);
    case OP_RENEW:
        return idm_renew(x->hs, x->db, dev, as, x->pol, actor, err);
    case OP_RETURN:
        return idm_return_to_bootstrap(x->hs, x->db, dev, as, x->pol, actor, err);
    case OP_COMMAND:
        return idm_secure_send(x->hs, x->db, dev, as, a->payload, a->payload_len, x->pol, actor, seq, err);
    default:
        return IDM_ERR_ARGUMENT;
    }
}

static json_t *result_of(uint64_t dev, idm_status st, int64_t seq, const char *err)
{
    json_t *o = json_object();
    char eui[17];
    snprintf(eui, sizeof eui, "%016llX", (unsigned long long)dev);
    json_object_set_new(o, "DevEUI", json_string(eui));
    json_object_set_new(o, "Status", json_integer(code_of(st)));
    if (st == IDM_OK) {
        json_object_set_new(o, "Queued", json_true());
        if (seq > 0)
            json_object_set_new(o, "Seq", json_integer(seq));
    } else {
        json_object_set_new(o, "Error", json_string(err[0] != '\0' ? err : idm_strerror(st)));
    }
    return o;
}

static void command_show(const idm_serve_ops_ctx *x, uint64_t dev, int64_t seq, unsigned *status, char **out)
{
    store_idm_cmd *c = calloc(1, sizeof *c);
    store_status ss = c != NULL ? store_idm_cmd_get(x->db, dev, seq, c) : STORE_ERR_NOMEM;
    if (ss != STORE_OK) {
        *status = ss == STORE_ERR_NOT_FOUND ? 404 : 500;
        *out = error_body(ss == STORE_ERR_NOT_FOUND ? "no such command" : store_strerror(ss));
        free(c);
        return;
    }
    json_t *o = json_object();
    char eui[17], hex[2 * sizeof c->reply + 1];
    snprintf(eui, sizeof eui, "%016llX", (unsigned long long)dev);
    json_object_set_new(o, "DevEUI", json_string(eui));
    json_object_set_new(o, "Seq", json_integer(c->seq));
    json_object_set_new(o, "Type", json_string(mls_type_name(c->type)));
    json_object_set_new(o, "State", json_string(store_idm_cmd_state_name(c->state)));
    if (c->result >= 0)
        json_object_set_new(o, "Result", json_integer(c->result));
    if (c->reply_len > 0 && lw_hex_encode(c->reply, c->reply_len, hex, sizeof hex) == LW_OK)
        json_object_set_new(o, "Reply", json_string(hex));
    free(c);
    *status = 200;
    *out = dump(o);
}

static void relay(const idm_serve_ops_ctx *x, uint64_t dev, json_t *body, unsigned *status, char **out)
{
    const char *hex = json_string_value(json_object_get(body, "FRMPayload"));
    json_t *mx = json_object_get(body, "MaxDownlinkPayload");
    size_t hl = hex != NULL ? strlen(hex) : 0;
    uint8_t in[242], frame[242];
    size_t flen = 0;
    if (hl % 2 != 0 || hl / 2 > sizeof in || (hl > 0 && lw_hex_decode(hex, hl, in, hl / 2) != LW_OK) ||
        !json_is_integer(mx) || json_integer_value(mx) < 1 || json_integer_value(mx) > 242) {
        *status = 400;
        *out = error_body("FRMPayload: hex of 0..242 bytes (the MLS frame as decrypted from FPort 200, or \"\"); "
                          "MaxDownlinkPayload: 1..242");
        return;
    }
    char err[IDM_ERR_MAX] = "";
    idm_status st = idm_ota_relay(x->engine, dev, in, hl / 2, (size_t)json_integer_value(mx), frame, &flen, err);
    if (st != IDM_OK) {
        *status = code_of(st);
        *out = error_body(err[0] != '\0' ? err : idm_strerror(st));
        return;
    }
    json_t *o = json_object();
    char h[2 * sizeof frame + 1];
    if (flen > 0 && lw_hex_encode(frame, flen, h, sizeof h) == LW_OK) {
        json_object_set_new(o, "FPort", json_integer(IDM_MLS_FPORT));
        json_object_set_new(o, "FRMPayload", json_string(h));
    }
    lw_secure_wipe(frame, sizeof frame);
    lw_secure_wipe(in, sizeof in);
    *status = 200;
    *out = dump(o);
}

static void fleet(const idm_serve_ops_ctx *x, const store_idm_tenant *t, op_kind k, json_t *body, unsigned *status,
                  char **out)
{
    json_t *list = json_object_get(body, "DevEUIs");
    const char *why = NULL;
    op_args *a = calloc(1, sizeof *a);
    if (a == NULL) {
        *status = 500;
        *out = error_body("out of memory");
        return;
    }
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > IDM_FLEET_MAX) {
        *status = 400;
        *out = error_body("DevEUIs: an array of 1 to 1000 DevEUIs");
    } else if (!args_parse(k, body, a, &why)) {
        *status = 400;
        *out = error_body(why);
    } else {
        json_t *o = json_object(), *results = json_array();
        size_t done = 0, failed = 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
            uint64_t dev = 0;
            char err[IDM_ERR_MAX] = "";
            int64_t seq = 0;
            idm_status st;
            if (!parse_eui(json_string_value(json_array_get(list, i)), &dev)) {
                st = IDM_ERR_ARGUMENT;
                snprintf(err, sizeof err, "DevEUIs[%zu]: 16 hex digits", i);
            } else {
                st = run(x, t, k, dev, a, &seq, err);
            }
            json_array_append_new(results, result_of(dev, st, seq, err));
            st == IDM_OK ? done++ : failed++;
            pthread_mutex_unlock(x->lock);
            pthread_mutex_lock(x->lock);
        }
        json_object_set_new(o, "Results", results);
        json_object_set_new(o, "Done", json_integer((json_int_t)done));
        json_object_set_new(o, "Failed", json_integer((json_int_t)failed));
        *status = 200;
        *out = dump(o);
    }
    lw_secure_wipe(a, sizeof *a);
    free(a);
}

bool idm_serve_ops(const idm_serve_ops_ctx *x, const store_idm_tenant *t, const char *method, const char *url,
                   json_t *body, unsigned *status, char **out)
{
    *out = NULL;
    if (strncmp(url, "/api/v1/fleet/", 14) == 0) {
        op_kind k = op_named(url + 14);
        if (k == OP_NONE || strcmp(method, "POST") != 0)
            return false;
        fleet(x, t, k, body, status, out);
        return true;
    }
    if (strncmp(url, "/api/v1/ses/", 12) != 0 || strlen(url) < 29 || url[28] != '/')
        return false;
    char eui[17];
    memcpy(eui, url + 12, 16);
    eui[16] = '\0';
    uint64_t dev;
    const char *rest = url + 29;
    op_kind k = op_named(rest);
    bool is_relay = strcmp(rest, "relay") == 0;
    bool is_cmd_get = strncmp(rest, "commands/", 9) == 0 && strcmp(method, "GET") == 0;
    if ((k == OP_NONE && !is_relay && !is_cmd_get) || (!is_cmd_get && strcmp(method, "POST") != 0))
        return false;
    if (!parse_eui(eui, &dev)) {
        *status = 400;
        *out = error_body("DevEUI: 16 hex digits");
        return true;
    }
    if (is_relay) {
        char err[IDM_ERR_MAX] = "";
        idm_status st = allowed(x, t, IDM_ACT_RELAY, dev, 0, err);
        if (st != IDM_OK) {
            *status = code_of(st);
            *out = error_body(err);
            return true;
        }
        relay(x, dev, body, status, out);
    } else if (is_cmd_get) {
        char *end = NULL;
        long long seq = strtoll(rest + 9, &end, 10);
        char err[IDM_ERR_MAX] = "";
        idm_status st;
        if (end == rest + 9 || *end != '\0' || seq < 1) {
            *status = 400;
            *out = error_body("command: a positive Seq");
        } else if ((st = allowed(x, t, IDM_ACT_READ_COMMAND, dev, seq, err)) != IDM_OK) {
            /* another's command answers as a command that does not exist */
            *status = code_of(st);
            *out = error_body(err);
        } else {
            command_show(x, dev, seq, status, out);
        }
    } else {
        op_args *a = calloc(1, sizeof *a);
        const char *why = NULL;
        char err[IDM_ERR_MAX] = "";
        int64_t seq = 0;
        if (a == NULL) {
            *status = 500;
            *out = error_body("out of memory");
        } else if (!args_parse(k, body, a, &why)) {
            *status = 400;
            *out = error_body(why);
        } else {
            idm_status st = run(x, t, k, dev, a, &seq, err);
            *status = code_of(st);
            json_t *r = result_of(dev, st, seq, err);
            json_object_del(r, "Status");
            *out = dump(r);
        }
        if (a != NULL)
            lw_secure_wipe(a, sizeof *a);
        free(a);
    }
    return true;
}
