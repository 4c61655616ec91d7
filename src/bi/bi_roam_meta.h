/*
 * bi_roam_meta.h - internal to src/bi: ULMetaData, DLMetaData and GWInfo
 * (bi_roam_meta.c) for the roaming messages (bi_roaming.c), and the
 * readers of signed integers, numbers and booleans they share.
 *
 * Errors name the field with its path ("ULMetaData.GWInfo[1].RSSI: ...").
 */
#ifndef FERRY_BI_ROAM_META_H
#define FERRY_BI_ROAM_META_H

#include "bi/bi_json.h"
#include "bi/bi_roaming.h"

/* Puts `where` + "." in front of err's field and description when st is a
 * failure; returns st. */
bi_status bi_roam_prefixed(bi_status st, bi_error *err, const char *where);

/* A signed integer member in min..max (integral reals accepted). */
bi_status bi_roam_int(const json_t *obj, const char *field, int64_t min, int64_t max, int64_t *v, bool *present,
                      bi_error *err);
/* A finite number member (integer or real). */
bi_status bi_roam_real(const json_t *obj, const char *field, double *v, bool *present, bi_error *err);
/* A boolean member; false when absent. */
bi_status bi_roam_bool(const json_t *obj, const char *field, bool *v, bi_error *err);

/* The metadata objects: `field` names the member ("ULMetaData").
 * Required or not as the caller says; *present false when absent. */
bi_status bi_ul_meta_parse(const json_t *root, const char *field, bool required, bi_ul_meta *ul, bool *present,
                           bi_error *err);
bi_status bi_dl_meta_parse(const json_t *root, const char *field, bool required, bi_dl_meta *dl, bool *present,
                           bi_error *err);
bi_status bi_put_ul_meta(json_t *obj, const char *key, const bi_ul_meta *ul);
bi_status bi_put_dl_meta(json_t *obj, const char *key, const bi_dl_meta *dl);
bi_status bi_put_real(json_t *obj, const char *key, double v);
bi_status bi_put_bool(json_t *obj, const char *key, bool v);

#endif
