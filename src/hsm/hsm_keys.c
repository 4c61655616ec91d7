/*
 * hsm_keys.c - key objects: their attributes, storage blobs under the master
 * key, generation and imports.
 *
 * Attributes of session objects, and why (docs/hsm.md has the table):
 *
 *   every session object: CKA_TOKEN false (gone when the session closes,
 *   never written to the token's files), CKA_PRIVATE true (only after
 *   login), CKA_SENSITIVE true (C_GetAttributeValue(CKA_VALUE) refuses),
 *   CKA_EXTRACTABLE true. "Extractable" in PKCS#11 means "may be wrapped",
 *   not "may be read": with SENSITIVE set the value leaves the token only
 *   through C_WrapKey, i.e. encrypted under another key of the token. That
 *   is exactly what a Join Server must do with session keys (wrap AppSKey
 *   and NwkSKey for the AS and the NS under their KEKs) and with new or
 *   imported keys (wrap under the master key for the database). A
 *   non-extractable session key could never be delivered.
 *
 *   the roles keep the two halves of the classic wrap-then-decrypt attack
 *   (Clulow 2003) on different keys: a WORKING key may encrypt, decrypt,
 *   sign and derive but not wrap; a KEK may wrap and unwrap but not encrypt
 *   or decrypt. Were one key allowed both, C_WrapKey(k, victim) followed by
 *   C_Decrypt(k, ...) - or the RFC 3394 unwrap steps recomputed with
 *   C_Decrypt(CKM_AES_ECB) - would print the victim in clear. The master
 *   key likewise only wraps and unwraps. (What remains: a caller holding the
 *   PIN can unwrap the same blob once as each role; docs/hsm.md, "Weak".)
 *
 *   transient objects (import paths) carry no usage at all: they exist only
 *   to be wrapped under the master key and destroyed.
 */
#include "hsm/hsm_internal.h"
#include "lorawan/lw_secure.h"

#include <string.h>

static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE aes_type = CKK_AES;
static const CK_BBOOL ck_yes = CK_TRUE, ck_no = CK_FALSE;

#define BOOL_ATTR(attr, on) {(attr), (CK_VOID_PTR)((on) ? &ck_yes : &ck_no), sizeof(CK_BBOOL)}

CK_ULONG hsm_key_template(hsm_key_role role, int transient, CK_ATTRIBUTE *t, CK_ULONG *value_len,
                          const uint8_t *value, size_t value_size)
{
    int working = !transient && role == HSM_KEY_WORKING;
    int kek = !transient && role == HSM_KEY_KEK;
    CK_ULONG n = 0;
    t[n++] = (CK_ATTRIBUTE){CKA_CLASS, (CK_VOID_PTR)&secret_class, sizeof(secret_class)};
    t[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, (CK_VOID_PTR)&aes_type, sizeof(aes_type)};
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_TOKEN, 0);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_PRIVATE, 1);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_SENSITIVE, 1);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_EXTRACTABLE, 1);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_ENCRYPT, working);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_DECRYPT, working);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_SIGN, working);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_VERIFY, working);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_DERIVE, working);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_WRAP, kek);
    t[n++] = (CK_ATTRIBUTE)BOOL_ATTR(CKA_UNWRAP, kek);
    if (value_len != NULL)
        t[n++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, value_len, sizeof(*value_len)};
    if (value != NULL)
        t[n++] = (CK_ATTRIBUTE){CKA_VALUE, (CK_VOID_PTR)value, value_size};
    return n;
}

hsm_status hsm_object_key_len(hsm_session *s, CK_OBJECT_HANDLE obj, uint8_t *len)
{
    CK_ULONG v = 0;
    CK_ATTRIBUTE a = {CKA_VALUE_LEN, &v, sizeof(v)};
    CK_RV rv = s->f->C_GetAttributeValue(s->s, obj, &a, 1);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_GetAttributeValue", rv);
    if (v != 16 && v != 24 && v != 32)
        return HSM_ERR_KEY_INVALID;
    *len = (uint8_t)v;
    return HSM_OK;
}

/* An lw_key naming object `obj`: handle set, material zero. */
static void name_key(lw_key *out, CK_OBJECT_HANDLE obj, uint8_t len)
{
    memset(out, 0, sizeof(*out));
    out->handle = obj;
    out->length = len;
}

static void destroy(hsm_session *s, CK_OBJECT_HANDLE obj)
{
    if (obj != CK_INVALID_HANDLE)
        s->f->C_DestroyObject(s->s, obj);
}

hsm_status hsm_key_generate(hsm_session *s, hsm_key_role role, lw_key *out)
{
    if (s == NULL || out == NULL)
        return HSM_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
    CK_ULONG len = LW_KEY_LEN;
    CK_ULONG n = hsm_key_template(role, 0, t, &len, NULL, 0);
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = s->f->C_GenerateKey(s->s, &mech, t, n, &obj);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_GenerateKey", rv);
    name_key(out, obj, LW_KEY_LEN);
    return HSM_OK;
}

hsm_status hsm_key_derive(hsm_session *s, hsm_key_role role, const lw_key *root, const uint8_t block[16],
                          lw_key *out)
{
    if (s == NULL || root == NULL || block == NULL || out == NULL)
        return HSM_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (root->handle == 0)
        return HSM_ERR_ARGUMENT;
    CK_KEY_DERIVATION_STRING_DATA data = {(CK_BYTE_PTR)block, 16};
    CK_MECHANISM mech = {CKM_AES_ECB_ENCRYPT_DATA, &data, sizeof(data)};
    CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
    CK_ULONG len = LW_KEY_LEN;
    CK_ULONG n = hsm_key_template(role, 0, t, &len, NULL, 0);
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = s->f->C_DeriveKey(s->s, &mech, (CK_OBJECT_HANDLE)root->handle, t, n, &obj);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_DeriveKey", rv);
    name_key(out, obj, LW_KEY_LEN);
    return HSM_OK;
}

/* C_UnwrapKey(CKM_AES_KEY_WRAP) of in[len] under `kek` into a new object. */
static hsm_status unwrap(hsm_session *s, CK_OBJECT_HANDLE kek, hsm_key_role role, int transient,
                         const uint8_t *in, size_t len, CK_OBJECT_HANDLE *obj)
{
    if (len != 24 && len != 32 && len != 40)
        return HSM_ERR_KEY_INVALID;
    CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
    CK_ULONG n = hsm_key_template(role, transient, t, NULL, NULL, 0);
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_RV rv = s->f->C_UnwrapKey(s->s, &mech, kek, (CK_BYTE_PTR)in, len, t, n, obj);
    return rv == CKR_OK ? HSM_OK : hsm_session_unwrap_fail(s, rv);
}

/* C_WrapKey(CKM_AES_KEY_WRAP) of `key` under `kek` into out[cap]. */
static hsm_status wrap(hsm_session *s, CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key, uint8_t *out, size_t cap,
                       size_t *len)
{
    CK_ULONG n = cap;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_RV rv = s->f->C_WrapKey(s->s, &mech, kek, key, out, &n);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_WrapKey", rv);
    *len = n;
    return HSM_OK;
}

hsm_status hsm_key_unwrap_blob(hsm_session *s, hsm_key_role role, const uint8_t *blob, size_t len,
                               lw_key *out)
{
    if (s == NULL || blob == NULL || out == NULL)
        return HSM_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    hsm_status st = unwrap(s, s->h->master, role, 0, blob, len, &obj);
    if (st == HSM_OK)
        name_key(out, obj, (uint8_t)(len - LW_WRAP_OVERHEAD));
    return st;
}

hsm_status hsm_key_wrap_blob(hsm_session *s, const lw_key *key, uint8_t *out, size_t cap, size_t *len)
{
    if (s == NULL || key == NULL || out == NULL || len == NULL || key->handle == 0)
        return HSM_ERR_ARGUMENT;
    uint8_t key_len = key->length;
    hsm_status st = key_len != 0 ? HSM_OK : hsm_object_key_len(s, key->handle, &key_len);
    if (st == HSM_OK && cap < (size_t)key_len + LW_WRAP_OVERHEAD)
        st = HSM_ERR_BUFFER;
    if (st == HSM_OK)
        st = wrap(s, s->h->master, key->handle, out, cap, len);
    return st;
}

void hsm_key_release(hsm_session *s, lw_key *key)
{
    if (s == NULL || key == NULL)
        return;
    destroy(s, key->handle);
    lw_key_wipe(key);
}

hsm_status hsm_import_wrapped(hsm_session *s, const lw_key *transport_kek, const uint8_t *wrapped, size_t len,
                              uint8_t *blob_out, size_t cap, size_t *blob_len)
{
    if (s == NULL || transport_kek == NULL || transport_kek->handle == 0 || wrapped == NULL ||
        blob_out == NULL || blob_len == NULL)
        return HSM_ERR_ARGUMENT;
    if (cap < len)   /* the blob is as long as the envelope: same key, same overhead */
        return HSM_ERR_BUFFER;
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    hsm_status st = unwrap(s, transport_kek->handle, HSM_KEY_WORKING, 1, wrapped, len, &obj);
    if (st == HSM_OK)
        st = wrap(s, s->h->master, obj, blob_out, cap, blob_len);
    destroy(s, obj);
    if (st != HSM_OK)
        lw_secure_wipe(blob_out, cap);
    return st;
}

hsm_status hsm_import_clear(hsm_session *s, uint8_t *key, size_t key_len, uint8_t *blob_out, size_t cap,
                            size_t *blob_len)
{
    hsm_status st = HSM_OK;
    if (s == NULL || key == NULL || blob_out == NULL || blob_len == NULL)
        st = HSM_ERR_ARGUMENT;
    else if (key_len != 16 && key_len != 24 && key_len != 32)
        st = HSM_ERR_KEY_INVALID;
    else if (cap < key_len + LW_WRAP_OVERHEAD)
        st = HSM_ERR_BUFFER;
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    if (st == HSM_OK) {
        CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
        CK_ULONG n = hsm_key_template(HSM_KEY_WORKING, 1, t, NULL, key, key_len);
        CK_RV rv = s->f->C_CreateObject(s->s, t, n, &obj);
        if (rv != CKR_OK)
            st = hsm_session_fail(s, "C_CreateObject", rv);
    }
    if (key != NULL)
        lw_secure_wipe(key, key_len);
    if (st == HSM_OK)
        st = wrap(s, s->h->master, obj, blob_out, cap, blob_len);
    if (s != NULL)
        destroy(s, obj);
    return st;
}

hsm_status hsm_session_count_objects(hsm_session *s, size_t *count)
{
    if (s == NULL || count == NULL)
        return HSM_ERR_ARGUMENT;
    CK_ATTRIBUTE t[] = {BOOL_ATTR(CKA_TOKEN, 0)};
    CK_RV rv = s->f->C_FindObjectsInit(s->s, t, 1);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_FindObjectsInit", rv);
    size_t total = 0;
    CK_OBJECT_HANDLE batch[64];
    CK_ULONG n = 0;
    do {
        rv = s->f->C_FindObjects(s->s, batch, 64, &n);
        total += rv == CKR_OK ? n : 0;
    } while (rv == CKR_OK && n == 64);
    s->f->C_FindObjectsFinal(s->s);
    if (rv != CKR_OK)
        return hsm_session_fail(s, "C_FindObjects", rv);
    *count = total;
    return HSM_OK;
}
