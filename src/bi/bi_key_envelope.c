/*
 * bi_key_envelope.c - KeyEnvelope parse and fill.
 *
 * The parser lives in bi_json.c (bi_json_key_envelope) because messages and
 * import lines read envelopes out of a larger document; this file gives it
 * a standalone entry and the setters. There is no setter for a clear
 * envelope: ferry never sends a key in clear.
 */
#include "bi/bi_json.h"

#include <string.h>

#include "lorawan/lw_secure.h"

bi_status bi_key_envelope_parse(const char *json, size_t len, bi_key_envelope *env, bi_error *err)
{
    if (json == NULL || env == NULL || err == NULL)
        return BI_ERR_ARGUMENT;
    memset(err, 0, sizeof(*err));
    memset(env, 0, sizeof(*env));
    json_t *root;
    bi_status st = bi_json_load(json, len, &root, err);
    if (st != BI_OK)
        return st;
    /* read it as the member of a one-field wrapper so that field names in
     * errors are the envelope's own ("AESKey") */
    json_t *wrap = json_object();
    if (wrap == NULL || json_object_set(wrap, "", root) != 0) {
        json_decref(wrap);
        json_decref(root);
        return bi_fail(err, BI_ERR_NOMEM, "", "out of memory");
    }
    st = bi_json_key_envelope(wrap, "", true, env, err);
    json_decref(wrap);
    json_decref(root);
    if (st == BI_OK)
        return BI_OK;
    bi_key_envelope_wipe(env);
    return st;
}

bi_status bi_key_envelope_set_wrapped(bi_key_envelope *env, const char *kek_label,
                                      const uint8_t wrapped[BI_WRAPPED_KEY_LEN])
{
    if (env == NULL || kek_label == NULL || wrapped == NULL)
        return BI_ERR_ARGUMENT;
    size_t n = strlen(kek_label);
    if (n == 0 || n > BI_KEK_LABEL_MAX)
        return BI_ERR_ARGUMENT;
    memset(env, 0, sizeof(*env));
    env->present = true;
    env->clear = false;
    memcpy(env->kek_label, kek_label, n + 1);
    env->aes_key_len = BI_WRAPPED_KEY_LEN;
    memcpy(env->aes_key, wrapped, BI_WRAPPED_KEY_LEN);
    return BI_OK;
}

void bi_key_envelope_wipe(bi_key_envelope *env)
{
    if (env != NULL)
        lw_secure_wipe(env, sizeof(*env));
}
