/*
 * hsm_backend.c - the LoRaWAN core's crypto interface (lw_crypto) on a
 * PKCS#11 session.
 *
 * Each operation of lw_crypto_class is one PKCS#11 mechanism, single-part
 * (an Init and one call), because HSMs load-balance and pipeline single-part
 * operations best and a LoRaWAN message is one block or a few:
 *
 *   aes_encrypt / aes_decrypt   CKM_AES_ECB            C_EncryptInit+C_Encrypt
 *   cmac                        CKM_AES_CMAC           C_SignInit+C_Sign
 *   derive                      CKM_AES_ECB_ENCRYPT_DATA  C_DeriveKey
 *   wrap / unwrap               CKM_AES_KEY_WRAP (RFC 3394)  C_WrapKey / C_UnwrapKey
 *   release                     C_DestroyObject
 *
 * Keys are lw_keys whose `handle` is the object handle; `material` is never
 * read or written. Objects made by derive and unwrap are HSM_KEY_WORKING
 * session objects (hsm_keys.c explains their attributes). A failure is
 * reported as an lw_status to the core and kept in full (call + CKR_) as
 * the session's last error.
 */
#include "hsm/hsm_internal.h"

#include <stdlib.h>
#include <string.h>

static lw_status to_lw(hsm_status st)
{
    switch (st) {
    case HSM_OK:
        return LW_OK;
    case HSM_ERR_ARGUMENT:
        return LW_ERR_ARGUMENT;
    case HSM_ERR_BUFFER:
        return LW_ERR_BUFFER;
    case HSM_ERR_WRAPPED_INVALID:
        return LW_ERR_MIC;
    case HSM_ERR_KEY_INVALID:
    case HSM_ERR_KEY_USE:
        return LW_ERR_KEY;
    default:
        return LW_ERR_CRYPTO;
    }
}

static lw_status fail(hsm_session *s, const char *call, CK_RV rv)
{
    return to_lw(hsm_session_fail(s, call, rv));
}

static lw_status key_fail(hsm_session *s)
{
    s->last_status = HSM_ERR_KEY_INVALID;
    s->last.call = NULL;
    s->last.ckr = 0;
    return LW_ERR_KEY;
}

static lw_status ecb(hsm_session *s, const lw_key *key, int encrypt, const uint8_t in[16], uint8_t out[16])
{
    if (key->handle == 0)
        return key_fail(s);
    CK_MECHANISM mech = {CKM_AES_ECB, NULL, 0};
    CK_ULONG n = 16;
    CK_RV rv;
    if (encrypt) {
        rv = s->f->C_EncryptInit(s->s, &mech, key->handle);
        if (rv != CKR_OK)
            return fail(s, "C_EncryptInit", rv);
        rv = s->f->C_Encrypt(s->s, (CK_BYTE_PTR)in, 16, out, &n);
        if (rv != CKR_OK)
            return fail(s, "C_Encrypt", rv);
    } else {
        rv = s->f->C_DecryptInit(s->s, &mech, key->handle);
        if (rv != CKR_OK)
            return fail(s, "C_DecryptInit", rv);
        rv = s->f->C_Decrypt(s->s, (CK_BYTE_PTR)in, 16, out, &n);
        if (rv != CKR_OK)
            return fail(s, "C_Decrypt", rv);
    }
    return n == 16 ? LW_OK : LW_ERR_CRYPTO;
}

static lw_status p11_aes_encrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    return ecb(ctx, key, 1, in, out);
}

static lw_status p11_aes_decrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    return ecb(ctx, key, 0, in, out);
}

/* C_Sign takes one contiguous message: a prefixed one (B0 | frame, DevEUI |
 * MLS message) is joined on the heap first. It holds public bytes only. */
static lw_status p11_cmac(void *ctx, const lw_key *key, const uint8_t *prefix, size_t prefix_len, const uint8_t *msg,
                          size_t len, uint8_t out[16])
{
    hsm_session *s = ctx;
    if (key->handle == 0)
        return key_fail(s);
    uint8_t *joined = NULL;
    if (prefix_len > 0) {
        joined = malloc(prefix_len + len);
        if (joined == NULL)
            return LW_ERR_CRYPTO;
        memcpy(joined, prefix, prefix_len);
        if (len > 0)
            memcpy(joined + prefix_len, msg, len);
        msg = joined;
        len += prefix_len;
    }
    static const uint8_t empty[1] = {0};
    CK_MECHANISM mech = {CKM_AES_CMAC, NULL, 0};
    const char *step = "C_SignInit";
    CK_RV rv = s->f->C_SignInit(s->s, &mech, key->handle);
    CK_ULONG n = 16;
    if (rv == CKR_OK) {
        step = "C_Sign";
        rv = s->f->C_Sign(s->s, (CK_BYTE_PTR)(len != 0 ? msg : empty), len, out, &n);
    }
    free(joined);
    if (rv != CKR_OK)
        return fail(s, step, rv);
    return n == 16 ? LW_OK : LW_ERR_CRYPTO;
}

static lw_status p11_derive(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    hsm_session *s = ctx;
    memset(out, 0, sizeof(*out));
    if (root->handle == 0)
        return key_fail(s);
    CK_KEY_DERIVATION_STRING_DATA data = {(CK_BYTE_PTR)block, 16};
    CK_MECHANISM mech = {CKM_AES_ECB_ENCRYPT_DATA, &data, sizeof(data)};
    CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
    CK_ULONG len = LW_KEY_LEN;
    CK_ULONG n = hsm_key_template(HSM_KEY_WORKING, 0, t, &len, NULL, 0);
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = s->f->C_DeriveKey(s->s, &mech, root->handle, t, n, &obj);
    if (rv != CKR_OK)
        return fail(s, "C_DeriveKey", rv);
    out->handle = obj;
    out->length = LW_KEY_LEN;
    return LW_OK;
}

static lw_status p11_wrap(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap)
{
    hsm_session *s = ctx;
    if (kek->handle == 0 || key->handle == 0)
        return key_fail(s);
    uint8_t key_len = key->length;
    if (key_len == 0) {
        hsm_status st = hsm_object_key_len(s, key->handle, &key_len);
        if (st != HSM_OK)
            return to_lw(st);
    }
    /* The interface writes exactly key->length + 8 bytes; a short buffer is
     * an error before the token is asked. */
    if (out_cap < (size_t)key_len + LW_WRAP_OVERHEAD)
        return LW_ERR_BUFFER;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_ULONG n = out_cap;
    CK_RV rv = s->f->C_WrapKey(s->s, &mech, kek->handle, key->handle, out, &n);
    if (rv != CKR_OK)
        return fail(s, "C_WrapKey", rv);
    return n == (CK_ULONG)key_len + LW_WRAP_OVERHEAD ? LW_OK : LW_ERR_CRYPTO;
}

static lw_status p11_unwrap(void *ctx, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out)
{
    hsm_session *s = ctx;
    memset(out, 0, sizeof(*out));
    if (kek->handle == 0 || (in_len != 24 && in_len != 32 && in_len != 40))
        return key_fail(s);
    CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
    CK_ULONG n = hsm_key_template(HSM_KEY_WORKING, 0, t, NULL, NULL, 0);
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = s->f->C_UnwrapKey(s->s, &mech, kek->handle, (CK_BYTE_PTR)in, in_len, t, n, &obj);
    if (rv != CKR_OK)
        return to_lw(hsm_session_unwrap_fail(s, rv));
    out->handle = obj;
    out->length = (uint8_t)(in_len - LW_WRAP_OVERHEAD);
    return LW_OK;
}

static void p11_release(void *ctx, lw_key *key)
{
    hsm_key_release(ctx, key);
}

const lw_crypto_class hsm_lw_class = {
    .name = "PKCS#11",
    .aes_encrypt = p11_aes_encrypt,
    .aes_decrypt = p11_aes_decrypt,
    .cmac = p11_cmac,
    .derive = p11_derive,
    .wrap = p11_wrap,
    .unwrap = p11_unwrap,
    .release = p11_release,
};
