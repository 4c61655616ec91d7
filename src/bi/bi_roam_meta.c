/*
 * bi_roam_meta.c - ULMetaData, DLMetaData and GWInfo, both ways.
 *
 * Every field is optional on input (the spec marks most of them O, and
 * peers leave out what they do not know); the network server that uses a
 * message says what it needs (the lab NS's home role needs DataRate and
 * ULFreq, for instance). What is present must be well formed: a wrong type
 * or a value out of range is an error naming the field, never ignored.
 */
#include "bi/bi_roam_meta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bi_status bi_roam_prefixed(bi_status st, bi_error *err, const char *where)
{
    if (st == BI_OK || err == NULL || where == NULL || where[0] == '\0')
        return st;
    /* built in larger buffers, then cut to the record's sizes (an error
     * message may be shortened; it always stays terminated) */
    char field[2 * sizeof(err->field)], desc[2 * sizeof(err->description)];
    snprintf(field, sizeof(field), "%s%s%s", where, err->field[0] ? "." : "", err->field);
    snprintf(desc, sizeof(desc), "%s%s%s", where, err->field[0] ? "." : ": ", err->description);
    size_t fn = strnlen(field, sizeof(err->field) - 1), dn = strnlen(desc, sizeof(err->description) - 1);
    memcpy(err->field, field, fn);
    err->field[fn] = '\0';
    memcpy(err->description, desc, dn);
    err->description[dn] = '\0';
    return st;
}

bi_status bi_roam_int(const json_t *obj, const char *field, int64_t min, int64_t max, int64_t *v, bool *present,
                      bi_error *err)
{
    *v = 0;
    *present = false;
    json_t *j = bi_json_get(obj, field);
    if (j == NULL)
        return BI_OK;
    double d;
    if (json_is_integer(j))
        d = (double)json_integer_value(j);
    else if (json_is_real(j))
        d = json_real_value(j);
    else
        return bi_fail(err, BI_ERR_TYPE, field, "must be a number");
    if (!(d >= (double)min && d <= (double)max))
        return bi_fail(err, BI_ERR_RANGE, field, "out of range %lld..%lld", (long long)min, (long long)max);
    if (json_is_integer(j)) {
        *v = (int64_t)json_integer_value(j);
    } else {
        *v = (int64_t)d;
        if ((double)*v != d)
            return bi_fail(err, BI_ERR_TYPE, field, "must be an integer");
    }
    *present = true;
    return BI_OK;
}

bi_status bi_roam_real(const json_t *obj, const char *field, double *v, bool *present, bi_error *err)
{
    *v = 0;
    *present = false;
    json_t *j = bi_json_get(obj, field);
    if (j == NULL)
        return BI_OK;
    if (!json_is_number(j))
        return bi_fail(err, BI_ERR_TYPE, field, "must be a number");
    double d = json_number_value(j);
    if (!isfinite(d) || fabs(d) > 1e9)
        return bi_fail(err, BI_ERR_RANGE, field, "out of range");
    /* kept to the 15 significant digits the builders write (bi_json_dump),
     * so that what is read is exactly what is written back: 868.1 stays
     * "868.1" on the wire, not 868.10000000000002 */
    char text[40];
    snprintf(text, sizeof(text), "%.15g", d);
    *v = strtod(text, NULL);
    *present = true;
    return BI_OK;
}

bi_status bi_roam_bool(const json_t *obj, const char *field, bool *v, bi_error *err)
{
    *v = false;
    json_t *j = bi_json_get(obj, field);
    if (j == NULL)
        return BI_OK;
    if (!json_is_boolean(j))
        return bi_fail(err, BI_ERR_TYPE, field, "must be true or false");
    *v = json_is_true(j);
    return BI_OK;
}

/* An unsigned integer into a narrower field. */
static bi_status get_u(const json_t *o, const char *field, uint64_t max, uint64_t *v, bool *present, bi_error *err)
{
    return bi_json_uint(o, field, false, max, v, present, err);
}

static bi_status get_token(const json_t *o, const char *field, uint8_t *out, size_t *len, bi_error *err)
{
    return bi_json_hex(o, field, false, out, 1, BI_UL_TOKEN_MAX, len, err);
}

static bi_status parse_gw_info(const json_t *g, bi_gw_info *gi, bi_error *err)
{
    int64_t i = 0;
    if (!json_is_object(g))
        return bi_fail(err, BI_ERR_TYPE, "", "must be an object");
    bi_status st = bi_json_hex(g, "ID", false, gi->id, 1, BI_GW_ID_MAX, &gi->id_len, err);
    if (st == BI_OK) st = bi_json_label(g, "RFRegion", false, gi->rf_region, BI_META_TEXT_MAX, err);
    if (st == BI_OK) st = bi_roam_int(g, "RSSI", -400, 100, &i, &gi->has_rssi, err);
    gi->rssi = (int32_t)i;
    if (st == BI_OK) st = bi_roam_real(g, "SNR", &gi->snr, &gi->has_snr, err);
    if (st == BI_OK) st = bi_roam_real(g, "Lat", &gi->lat, &gi->has_lat, err);
    if (st == BI_OK) st = bi_roam_real(g, "Lon", &gi->lon, &gi->has_lon, err);
    if (st == BI_OK) st = get_token(g, "ULToken", gi->ul_token, &gi->ul_token_len, err);
    if (st == BI_OK) st = bi_roam_bool(g, "DLAllowed", &gi->dl_allowed, err);
    return st;
}

static bi_status parse_gw_list(const json_t *obj, bi_gw_info *out, size_t *n, bi_error *err)
{
    *n = 0;
    json_t *a = bi_json_get(obj, "GWInfo");
    if (a == NULL)
        return BI_OK;
    if (!json_is_array(a))
        return bi_fail(err, BI_ERR_TYPE, "GWInfo", "must be an array");
    if (json_array_size(a) > BI_GW_INFO_MAX)
        return bi_fail(err, BI_ERR_RANGE, "GWInfo", "%zu entries, at most %d", json_array_size(a), BI_GW_INFO_MAX);
    for (size_t k = 0; k < json_array_size(a); k++) {
        char where[32];
        snprintf(where, sizeof(where), "GWInfo[%u]", (unsigned)k);
        bi_status st = bi_roam_prefixed(parse_gw_info(json_array_get(a, k), &out[k], err), err, where);
        if (st != BI_OK)
            return st;
        *n = k + 1;
    }
    return BI_OK;
}

static const json_t *meta_object(const json_t *root, const char *field, bool required, bool *present,
                                 bi_status *st, bi_error *err)
{
    *present = false;
    *st = BI_OK;
    json_t *m = bi_json_get(root, field);
    if (m == NULL) {
        if (required)
            *st = bi_fail(err, BI_ERR_MISSING, field, "required field is missing");
        return NULL;
    }
    if (!json_is_object(m)) {
        *st = bi_fail(err, BI_ERR_TYPE, field, "must be an object");
        return NULL;
    }
    *present = true;
    return m;
}

static bi_status ul_fields(const json_t *m, bi_ul_meta *ul, bi_error *err)
{
    uint64_t u = 0;
    int64_t i = 0;
    bi_status st = bi_json_be(m, "DevEUI", false, 8, &ul->dev_eui, &ul->has_dev_eui, err);
    if (st == BI_OK) st = bi_json_be(m, "DevAddr", false, 4, &u, &ul->has_dev_addr, err);
    ul->dev_addr = (uint32_t)u;
    if (st == BI_OK) st = get_u(m, "FPort", 255, &u, &ul->has_fport, err);
    ul->fport = (uint8_t)u;
    if (st == BI_OK) st = get_u(m, "FCntDown", UINT32_MAX, &u, &ul->has_fcnt_down, err);
    ul->fcnt_down = (uint32_t)u;
    if (st == BI_OK) st = get_u(m, "FCntUp", UINT32_MAX, &u, &ul->has_fcnt_up, err);
    ul->fcnt_up = (uint32_t)u;
    if (st == BI_OK) st = bi_roam_bool(m, "Confirmed", &ul->confirmed, err);
    if (st == BI_OK) st = get_u(m, "DataRate", 15, &u, &ul->has_data_rate, err);
    ul->data_rate = (uint8_t)u;
    if (st == BI_OK) st = bi_roam_real(m, "ULFreq", &ul->ul_freq, &ul->has_ul_freq, err);
    if (st == BI_OK) st = bi_roam_int(m, "Margin", -32, 31, &i, &ul->has_margin, err);
    ul->margin = (int32_t)i;
    if (st == BI_OK) st = get_u(m, "Battery", 255, &u, &ul->has_battery, err);
    ul->battery = (uint8_t)u;
    if (st == BI_OK) st = get_token(m, "FNSULToken", ul->fns_ul_token, &ul->fns_ul_token_len, err);
    if (st == BI_OK) st = bi_json_label(m, "RecvTime", false, ul->recv_time, BI_META_TEXT_MAX, err);
    if (st == BI_OK) st = bi_json_label(m, "RFRegion", false, ul->rf_region, BI_META_TEXT_MAX, err);
    if (st == BI_OK) st = get_u(m, "GWCnt", UINT32_MAX, &u, &ul->has_gw_cnt, err);
    ul->gw_cnt = (uint32_t)u;
    if (st == BI_OK) st = parse_gw_list(m, ul->gw_info, &ul->n_gw_info, err);
    return st;
}

bi_status bi_ul_meta_parse(const json_t *root, const char *field, bool required, bi_ul_meta *ul, bool *present,
                           bi_error *err)
{
    bi_status st;
    memset(ul, 0, sizeof(*ul));
    const json_t *m = meta_object(root, field, required, present, &st, err);
    if (m == NULL)
        return st;
    return bi_roam_prefixed(ul_fields(m, ul, err), err, field);
}

static bi_status dl_fields(const json_t *m, bi_dl_meta *dl, bi_error *err)
{
    uint64_t u = 0;
    bi_status st = bi_json_be(m, "DevEUI", false, 8, &dl->dev_eui, &dl->has_dev_eui, err);
    if (st == BI_OK) st = get_u(m, "FPort", 255, &u, &dl->has_fport, err);
    dl->fport = (uint8_t)u;
    if (st == BI_OK) st = get_u(m, "FCntDown", UINT32_MAX, &u, &dl->has_fcnt_down, err);
    dl->fcnt_down = (uint32_t)u;
    if (st == BI_OK) st = bi_roam_bool(m, "Confirmed", &dl->confirmed, err);
    if (st == BI_OK) st = bi_roam_real(m, "DLFreq1", &dl->dl_freq1, &dl->has_dl_freq1, err);
    if (st == BI_OK) st = bi_roam_real(m, "DLFreq2", &dl->dl_freq2, &dl->has_dl_freq2, err);
    if (st == BI_OK) st = get_u(m, "RXDelay1", 15, &u, &dl->has_rx_delay1, err);
    dl->rx_delay1 = (uint8_t)u;
    if (st == BI_OK) st = bi_json_label(m, "ClassMode", false, dl->class_mode, BI_META_TEXT_MAX, err);
    if (st == BI_OK) st = get_u(m, "DataRate1", 15, &u, &dl->has_data_rate1, err);
    dl->data_rate1 = (uint8_t)u;
    if (st == BI_OK) st = get_u(m, "DataRate2", 15, &u, &dl->has_data_rate2, err);
    dl->data_rate2 = (uint8_t)u;
    if (st == BI_OK) st = get_token(m, "FNSULToken", dl->fns_ul_token, &dl->fns_ul_token_len, err);
    if (st == BI_OK) st = parse_gw_list(m, dl->gw_info, &dl->n_gw_info, err);
    if (st == BI_OK) st = bi_roam_bool(m, "HiPriorityFlag", &dl->hi_priority, err);
    return st;
}

bi_status bi_dl_meta_parse(const json_t *root, const char *field, bool required, bi_dl_meta *dl, bool *present,
                           bi_error *err)
{
    bi_status st;
    memset(dl, 0, sizeof(*dl));
    const json_t *m = meta_object(root, field, required, present, &st, err);
    if (m == NULL)
        return st;
    return bi_roam_prefixed(dl_fields(m, dl, err), err, field);
}

/* ---- writers ------------------------------------------------------------ */

bi_status bi_put_real(json_t *obj, const char *key, double v)
{
    if (!isfinite(v))
        return BI_ERR_ARGUMENT;
    char text[40];
    snprintf(text, sizeof(text), "%.15g", v); /* the precision bi_json_dump writes */
    json_t *j = json_real(strtod(text, NULL));
    if (j == NULL)
        return BI_ERR_NOMEM;
    return json_object_set_new(obj, key, j) == 0 ? BI_OK : BI_ERR_NOMEM;
}

bi_status bi_put_bool(json_t *obj, const char *key, bool v)
{
    return json_object_set_new(obj, key, json_boolean(v)) == 0 ? BI_OK : BI_ERR_NOMEM;
}

static bi_status put_int(json_t *obj, const char *key, int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    if (j == NULL)
        return BI_ERR_NOMEM;
    return json_object_set_new(obj, key, j) == 0 ? BI_OK : BI_ERR_NOMEM;
}

static bi_status put_text(json_t *obj, const char *key, const char *s)
{
    return s[0] ? bi_put_str(obj, key, s) : BI_OK;
}

static bi_status put_gw_list(json_t *obj, const bi_gw_info *gws, size_t n, bool always)
{
    if (n > BI_GW_INFO_MAX)
        return BI_ERR_ARGUMENT;
    if (n == 0 && !always)
        return BI_OK;
    json_t *a = json_array();
    if (a == NULL)
        return BI_ERR_NOMEM;
    bi_status st = BI_OK;
    for (size_t k = 0; k < n && st == BI_OK; k++) {
        const bi_gw_info *g = &gws[k];
        json_t *o = json_object();
        if (o == NULL || json_array_append_new(a, o) != 0) {
            st = BI_ERR_NOMEM;
            break;
        }
        if (g->id_len > BI_GW_ID_MAX || g->ul_token_len > BI_UL_TOKEN_MAX)
            st = BI_ERR_ARGUMENT;
        if (st == BI_OK && g->id_len) st = bi_put_hex(o, "ID", g->id, g->id_len);
        if (st == BI_OK) st = put_text(o, "RFRegion", g->rf_region);
        if (st == BI_OK && g->has_rssi) st = put_int(o, "RSSI", g->rssi);
        if (st == BI_OK && g->has_snr) st = bi_put_real(o, "SNR", g->snr);
        if (st == BI_OK && g->has_lat) st = bi_put_real(o, "Lat", g->lat);
        if (st == BI_OK && g->has_lon) st = bi_put_real(o, "Lon", g->lon);
        if (st == BI_OK && g->ul_token_len) st = bi_put_hex(o, "ULToken", g->ul_token, g->ul_token_len);
        if (st == BI_OK && g->dl_allowed) st = bi_put_bool(o, "DLAllowed", true);
    }
    if (st != BI_OK) {
        json_decref(a);
        return st;
    }
    return json_object_set_new(obj, "GWInfo", a) == 0 ? BI_OK : BI_ERR_NOMEM;
}

bi_status bi_put_ul_meta(json_t *obj, const char *key, const bi_ul_meta *ul)
{
    if (ul->fns_ul_token_len > BI_UL_TOKEN_MAX || ul->data_rate > 15 || ul->margin < -32 || ul->margin > 31)
        return BI_ERR_ARGUMENT;
    json_t *m = json_object();
    if (m == NULL)
        return BI_ERR_NOMEM;
    bi_status st = BI_OK;
    if (st == BI_OK && ul->has_dev_eui) st = bi_put_be(m, "DevEUI", ul->dev_eui, 8);
    if (st == BI_OK && ul->has_dev_addr) st = bi_put_be(m, "DevAddr", ul->dev_addr, 4);
    if (st == BI_OK && ul->has_fport) st = bi_put_uint(m, "FPort", ul->fport);
    if (st == BI_OK && ul->has_fcnt_down) st = bi_put_uint(m, "FCntDown", ul->fcnt_down);
    if (st == BI_OK && ul->has_fcnt_up) st = bi_put_uint(m, "FCntUp", ul->fcnt_up);
    if (st == BI_OK && ul->confirmed) st = bi_put_bool(m, "Confirmed", true);
    if (st == BI_OK && ul->has_data_rate) st = bi_put_uint(m, "DataRate", ul->data_rate);
    if (st == BI_OK && ul->has_ul_freq) st = bi_put_real(m, "ULFreq", ul->ul_freq);
    if (st == BI_OK && ul->has_margin) st = put_int(m, "Margin", ul->margin);
    if (st == BI_OK && ul->has_battery) st = bi_put_uint(m, "Battery", ul->battery);
    if (st == BI_OK && ul->fns_ul_token_len) st = bi_put_hex(m, "FNSULToken", ul->fns_ul_token, ul->fns_ul_token_len);
    if (st == BI_OK) st = put_text(m, "RecvTime", ul->recv_time);
    if (st == BI_OK) st = put_text(m, "RFRegion", ul->rf_region);
    if (st == BI_OK && ul->has_gw_cnt) st = bi_put_uint(m, "GWCnt", ul->gw_cnt);
    if (st == BI_OK) st = put_gw_list(m, ul->gw_info, ul->n_gw_info, false);
    if (st != BI_OK) {
        json_decref(m);
        return st;
    }
    return json_object_set_new(obj, key, m) == 0 ? BI_OK : BI_ERR_NOMEM;
}

bi_status bi_put_dl_meta(json_t *obj, const char *key, const bi_dl_meta *dl)
{
    if (dl->fns_ul_token_len > BI_UL_TOKEN_MAX || dl->data_rate1 > 15 || dl->data_rate2 > 15 || dl->rx_delay1 > 15)
        return BI_ERR_ARGUMENT;
    json_t *m = json_object();
    if (m == NULL)
        return BI_ERR_NOMEM;
    bi_status st = BI_OK;
    if (st == BI_OK && dl->has_dev_eui) st = bi_put_be(m, "DevEUI", dl->dev_eui, 8);
    if (st == BI_OK && dl->has_fport) st = bi_put_uint(m, "FPort", dl->fport);
    if (st == BI_OK && dl->has_fcnt_down) st = bi_put_uint(m, "FCntDown", dl->fcnt_down);
    if (st == BI_OK && dl->confirmed) st = bi_put_bool(m, "Confirmed", true);
    if (st == BI_OK && dl->has_dl_freq1) st = bi_put_real(m, "DLFreq1", dl->dl_freq1);
    if (st == BI_OK && dl->has_dl_freq2) st = bi_put_real(m, "DLFreq2", dl->dl_freq2);
    if (st == BI_OK && dl->has_rx_delay1) st = bi_put_uint(m, "RXDelay1", dl->rx_delay1);
    if (st == BI_OK) st = put_text(m, "ClassMode", dl->class_mode);
    if (st == BI_OK && dl->has_data_rate1) st = bi_put_uint(m, "DataRate1", dl->data_rate1);
    if (st == BI_OK && dl->has_data_rate2) st = bi_put_uint(m, "DataRate2", dl->data_rate2);
    if (st == BI_OK && dl->fns_ul_token_len) st = bi_put_hex(m, "FNSULToken", dl->fns_ul_token, dl->fns_ul_token_len);
    /* brocaar/lorawan writes GWInfo without omitempty here: always present */
    if (st == BI_OK) st = put_gw_list(m, dl->gw_info, dl->n_gw_info, true);
    if (st == BI_OK && dl->hi_priority) st = bi_put_bool(m, "HiPriorityFlag", true);
    if (st != BI_OK) {
        json_decref(m);
        return st;
    }
    return json_object_set_new(obj, key, m) == 0 ? BI_OK : BI_ERR_NOMEM;
}
