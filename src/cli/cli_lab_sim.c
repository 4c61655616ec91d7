/*
 * cli_lab_sim.c - the simulated clock's counters as JSON (cli_lab_sim.h).
 */
#include "cli/cli_lab_sim.h"
#include "cli/cli_json.h"

json_t *cli_lab_sim_json(const lab_fleet_counters *c)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int e = json_object_set_new(o, "SimulatedSeconds", json_real(c->sim_s));
    e |= json_object_set_new(o, "AirtimeUpSeconds", json_real(c->air_up_s));
    e |= json_object_set_new(o, "AirtimeDownSeconds", json_real(c->air_down_s));
    e |= cli_json_set_uint(o, "NoDownlinkNotices", c->no_downlink);
    e |= cli_json_set_uint(o, "DutyCycleRefused", c->dc_refused);
    e |= cli_json_set_uint(o, "TxBusyRefused", c->tx_busy);
    e |= cli_json_set_uint(o, "Collisions", c->collisions);
    e |= cli_json_set_uint(o, "Deaf", c->deaf);
    e |= cli_json_set_uint(o, "MediumFull", c->medium_full);
    e |= cli_json_set_uint(o, "AnswersLate", c->answers_late);
    e |= cli_json_set_uint(o, "TxAckFailed", c->tx_ack_failed);
    if (e != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
