/*
 * cli_lab_sim.h - what `ferry lab devices` and `ferry demo` report about a
 * run under the simulated clock (lab_dev.h, docs/scale.md).
 */
#ifndef FERRY_CLI_LAB_SIM_H
#define FERRY_CLI_LAB_SIM_H

#include <jansson.h>
#include "lab/lab_dev.h"

#define CLI_LAB_SIM_IN_FLIGHT 4096 /* exchanges a worker keeps open under the simulated clock */

/* {"SimulatedSeconds", "AirtimeUpSeconds", "AirtimeDownSeconds",
 *  "NoDownlinkNotices", "DutyCycleRefused", "TxBusyRefused", "Collisions",
 *  "Deaf", "MediumFull", "AnswersLate"} of c; NULL when out of memory. */
json_t *cli_lab_sim_json(const lab_fleet_counters *c);

#endif
