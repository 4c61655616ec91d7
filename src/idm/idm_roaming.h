/*
 * idm_roaming.h - who may activate the Identity Manager's secure elements,
 * and where each one is, for the bootstrap Join Server (docs/operators.md).
 *
 * Device makers choose per SE batch which onboarded operators may activate
 * their SEs (`idm import --operators`, kept per SE in idm_se.operators: all
 * of them by default); a customer may restrict where its devices join once
 * moved (`idm js add --allowed-net-ids`, kept per customer Join Server and
 * sent as the devices' AllowedNetIDs). The Join Server (src/js) does not
 * know these tables: `ferry serve` installs idm_se_policy with
 * js_set_se_policy, and the handler asks it for the SE of each operator
 * JoinReq and each HomeNSReq. The bootstrap Join Server and the IDM share
 * one database, so the answer is always current.
 */
#ifndef FERRY_IDM_ROAMING_H
#define FERRY_IDM_ROAMING_H

#include "idm/idm.h"
#include "js/js.h"

/* A list of NetIDs as given on a command line or in a request: 6 hex
 * digits each (optional 0x, either case), separated by commas, at most
 * `max`, no repeats; with allow_all, "*" or "" means every operator. Its
 * canonical text goes to out[cap]: "*", "" (an empty list without
 * allow_all) or "000013,C00053" (uppercase, in the order given).
 * IDM_ERR_INPUT with the entry at fault in err. */
idm_status idm_net_id_list_canon(const char *text, bool allow_all, size_t max, char *out, size_t cap,
                                 char err[IDM_ERR_MAX]);

/* The canonical text back into NetIDs: *all for "*"; out[cap], *count.
 * IDM_ERR_INPUT for text that is not canonical. */
idm_status idm_net_id_list_parse(const char *canon, bool *all, uint32_t *out, size_t cap, size_t *count);

/* js_se_policy_fn: the maker's choice of operators for SE dev_eui and,
 * when the SE runs a customer profile (profile_delivered,
 * active_at_customer, transfer_pending, or a renewal or transfer still on
 * trial), the customer Join Server's home NetID and allowed NetIDs. The
 * Join Server of the customer profile is the one holding the SE's current
 * keys (idm_profile_key), its previous keys during a transfer's delivery.
 * JS_OK with is_se false for a device that is not an SE of the IDM;
 * JS_ERR_STORE on a database failure or rows that contradict each other. */
js_status idm_se_policy(void *fn_ctx, store *db, uint64_t dev_eui, js_se_policy *out);

#endif
