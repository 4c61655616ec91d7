/*
 * cli_lab_devices.c - `ferry lab devices`: simulated devices (lab_dev.h)
 * until each meets a goal, with a JSON report.
 *
 *   ferry lab devices --networks NAME=ADDR:PORT[,NAME=ADDR:PORT...] [--until GOAL]
 *                     [--loss P] [--workers N] [--dr D] [--seconds S] [--max-steps N]
 *                     [--down NAME] [--in-flight N] [--gateway-eui-base E]
 *                     [--stack ferry|loramac-node] [--clock wall|simulated] [--gateways G] IMAGE...
 *
 * GOAL: joined (any profile), joined:JOINEUI (a session on that JoinEUI),
 * switched (joined on a customer profile), bootstrap (joined on the
 * bootstrap profile), secure (the application got a secure command),
 * uplinks:N (N more uplinks each). Each image is an element from `ferry hsa
 * personalise`; it is written back after the run, so a later run goes on
 * from where the device was (a power cycle of the device, not of the SE).
 * Exit status 0 when every device met the goal, 1 otherwise.
 *
 * --stack loramac-node runs each image under LoRaMac-node instead (an
 * lmn_node process per device, cli_lmn.h): its stack's NVM is IMAGE.nvm
 * and its log IMAGE.log, beside the image; the report has the same goals
 * and the device's own counters (docs/loramac-node.md).
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "cli/cli_lmn.h"
#include "cli/cli_lab_sim.h"
#include "cli/cli_servers.h"
#include "lab/lab_dev.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 20000

typedef enum goal_kind { G_JOINED, G_JOINED_EUI, G_SWITCHED, G_BOOTSTRAP, G_SECURE, G_UPLINKS } goal_kind;

typedef struct goal {
    goal_kind kind;
    uint64_t join_eui;
    uint32_t uplinks;
    uint32_t *base;              /* per device: uplinks at the start (G_UPLINKS) */
    lab_dev *devs;
} goal;

static bool want(lab_dev *d, void *ctx)
{
    const goal *g = ctx;
    se_info i;
    if (se_get_info(&d->e, &i) != SE_OK)
        return false;
    switch (g->kind) {
    case G_JOINED:
        return !i.joined;
    case G_JOINED_EUI:
        return !(i.joined && i.join_eui == g->join_eui);
    case G_SWITCHED:
        return !(i.joined && i.active_slot != 0 && !i.on_trial);
    case G_BOOTSTRAP:
        return !(i.joined && i.active_slot == 0);
    case G_SECURE:
        return d->st.secure_commands == 0;
    default:
        return d->st.uplinks < g->base[d - g->devs] + g->uplinks;
    }
}

/* The goal, for a LoRaMac-node device's status line. */
static bool lmn_met(const goal *g, const cli_lmn_status *s, uint32_t base)
{
    bool joined = s->seen && s->joined && s->stack_joined;
    switch (g->kind) {
    case G_JOINED:
        return joined;
    case G_JOINED_EUI:
        return joined && s->join_eui == g->join_eui;
    case G_SWITCHED:
        return joined && s->active_slot != 0 && !s->on_trial;
    case G_BOOTSTRAP:
        return joined && s->active_slot == 0;
    case G_SECURE:
        return s->secure_commands > 0;
    default:
        return s->uplinks >= base + g->uplinks;
    }
}

static json_t *lmn_json(const cli_lmn_status *s, const char *image)
{
    json_t *o = json_object();
    int e = cli_json_set_be(o, "DevEUI", s->dev_eui, 16);
    e |= cli_json_set_be(o, "JoinEUI", s->join_eui, 16);
    e |= json_object_set_new(o, "Stack", json_string("loramac-node"));
    e |= json_object_set_new(o, "Image", json_string(image));
    e |= cli_json_set_uint(o, "ActiveSlot", s->active_slot);
    e |= cli_json_set_bool(o, "OnTrial", s->on_trial);
    e |= cli_json_set_bool(o, "Joined", s->joined);
    e |= cli_json_set_bool(o, "StackJoined", s->stack_joined);
    e |= cli_json_set_uint(o, "JoinRequests", s->join_requests);
    e |= cli_json_set_uint(o, "Joins", s->joins);
    e |= cli_json_set_uint(o, "JoinFailures", s->join_failures);
    e |= cli_json_set_uint(o, "Uplinks", s->uplinks);
    e |= cli_json_set_uint(o, "MLSUplinks", s->mls_uplinks);
    e |= cli_json_set_uint(o, "Downlinks", s->downlinks);
    e |= cli_json_set_uint(o, "MLSDownlinks", s->mls_downlinks);
    e |= cli_json_set_uint(o, "SecureCommands", s->secure_commands);
    e |= cli_json_set_uint(o, "ProfileSwitches", s->profile_switches);
    e |= cli_json_set_uint(o, "ElementErrors", s->element_errors);
    e |= cli_json_set_uint(o, "Rx1", s->rx1);
    e |= cli_json_set_uint(o, "Rx2", s->rx2);
    e |= cli_json_set_uint(o, "LostUp", s->lost_up);
    e |= cli_json_set_uint(o, "LostDown", s->lost_down);
    e |= cli_json_set_uint(o, "DownMissed", s->missed);
    e |= json_object_set_new(o, "SimulatedSeconds", json_real(s->simulated_s));
    if (e != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --stack loramac-node: each image under LoRaMac-node, one lmn_node
 * process each, until every one met the goal or `seconds` ran out. */
static int run_lmn(const char *prog, const lab_air *air, const goal *g, char **images, size_t n, bool mixed, int dr,
                   double seconds)
{
    char ferry[PATH_MAX], program[PATH_MAX], why[PATH_MAX + 256];
    ssize_t fl = readlink("/proc/self/exe", ferry, sizeof ferry - 1);
    if (fl <= 0)
        return CLI_EXIT_FAIL;
    ferry[fl] = '\0';
    if (cli_lmn_path(ferry, program, sizeof program, why, sizeof why) != 0) {
        cli_error(prog, "--stack loramac-node: %s", why);
        return CLI_EXIT_FAIL;
    }
    char nets[LAB_AIR_NETWORKS * 100] = "";
    for (size_t i = 0; i < air->n_net; i++) {
        size_t len = strlen(nets);
        snprintf(nets + len, sizeof nets - len, "%s%s=%s", i ? "," : "", air->net[i].name, air->net[i].ns_addr);
    }
    cli_lmn *devs = calloc(n, sizeof *devs);
    uint32_t *base = calloc(n, sizeof *base);
    bool *met = calloc(n, sizeof *met);
    int rc = CLI_EXIT_OK;
    size_t started = 0, done = 0;
    if (devs == NULL || base == NULL || met == NULL) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    int margin = (int)(300 * cli_build_slowness());
    for (; started < n; started++) {
        char nvm[PATH_MAX + 8], log[PATH_MAX + 8];
        snprintf(nvm, sizeof nvm, "%s.nvm", images[started]);
        snprintf(log, sizeof log, "%s.log", images[started]);
        cli_lmn_args a = {.image = images[started], .nvm = nvm, .log = log, .networks = nets, .in_range = NULL,
                          .dr = mixed ? (unsigned)(started % 6) : (unsigned)dr, .loss = air->loss_up,
                          .seed = 0x1234567u + (uint32_t)started * 7919u,
                          .window_margin_ms = margin < 700 ? margin : 700, .run = false};
        if (cli_lmn_start(&devs[started], program, &a) != 0) {
            cli_error(prog, "%s: cannot start its LoRaMac-node device", images[started]);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        for (size_t k = 0; k < air->n_net; k++) {
            char line[32];
            snprintf(line, sizeof line, "down %zu", k);
            if (air->net[k].down && cli_lmn_send(&devs[started], line) != 0)
                rc = CLI_EXIT_FAIL;
        }
    }
    /* the counters a goal of "N more uplinks" starts from */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t seen = 0; seen < n;) {
        cli_lmn_poll(devs, n, 200, NULL);
        seen = 0;
        for (size_t i = 0; i < n; i++)
            seen += devs[i].st.seen || devs[i].exited;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) > 30 * cli_build_slowness())
            break;
    }
    for (size_t i = 0; i < n; i++)
        base[i] = devs[i].st.uplinks;
    double used = 0;
    while (rc == CLI_EXIT_OK) {
        done = 0;
        for (size_t i = 0; i < n; i++) {
            met[i] = lmn_met(g, &devs[i].st, base[i]);
            done += met[i];
            if (met[i] == devs[i].running && cli_lmn_send(&devs[i], met[i] ? "pause" : "run") != 0)
                devs[i].running = !met[i];   /* gone: its status says how far it got */
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        used = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (done == n || used >= seconds)
            break;
        cli_lmn_poll(devs, n, 200, NULL);
    }
    cli_lmn_stop_all(devs, started, 10 * cli_build_slowness());
    if (rc == CLI_EXIT_OK && done < n)
        cli_error(prog, "%zu of %zu devices reached the goal; the wall-time budget ran out (--seconds)", done, n);
    json_t *out = json_object(), *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = lmn_json(&devs[i].st, images[i]);
        if (o != NULL)
            json_array_append_new(list, o);
    }
    json_object_set_new(out, "devices", list);
    int e = cli_json_set_uint(out, "done", done);
    e |= cli_json_set_uint(out, "total", n);
    e |= json_object_set_new(out, "Stack", json_string("loramac-node"));
    e |= json_object_set_new(out, "SecondsBudget", json_real(seconds));
    e |= json_object_set_new(out, "SecondsUsed", json_real(used));
    e |= json_object_set_new(out, "BudgetRanOut", json_boolean(done < n && used >= seconds));
    int erc = cli_json_emit(prog, out, e);
    if (rc == CLI_EXIT_OK)
        rc = erc != CLI_EXIT_OK ? erc : done == n ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
    if (rc != CLI_EXIT_OK && devs != NULL)
        cli_lmn_stop_all(devs, started, 10 * cli_build_slowness());
    free(devs);
    free(base);
    free(met);
    return rc;
}

static int parse_goal(const char *prog, const char *s, goal *g)
{
    memset(g, 0, sizeof *g);
    if (s == NULL || strcmp(s, "joined") == 0)
        g->kind = G_JOINED;
    else if (strncmp(s, "joined:", 7) == 0) {
        g->kind = G_JOINED_EUI;
        if (cli_parse_hex_uint(prog, "--until", s + 7, 16, "JoinEUI", &g->join_eui) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    } else if (strcmp(s, "switched") == 0)
        g->kind = G_SWITCHED;
    else if (strcmp(s, "bootstrap") == 0)
        g->kind = G_BOOTSTRAP;
    else if (strcmp(s, "secure") == 0)
        g->kind = G_SECURE;
    else if (strncmp(s, "uplinks:", 8) == 0 && atoi(s + 8) > 0) {
        g->kind = G_UPLINKS;
        g->uplinks = (uint32_t)atoi(s + 8);
    } else {
        cli_error(prog, "--until: joined, joined:JOINEUI, switched, bootstrap, secure or uplinks:N");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int parse_networks(const char *prog, char *list, lab_air *air)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || eq == tok || (size_t)(eq - tok) >= LAB_DEV_NAME_MAX || strlen(eq + 1) >= 64 ||
            air->n_net == LAB_AIR_NETWORKS) {
            cli_error(prog, "--networks: NAME=ADDR:PORT, comma separated, at most %d", LAB_AIR_NETWORKS);
            return CLI_EXIT_USAGE;
        }
        lab_air_network *n = &air->net[air->n_net++];
        memcpy(n->name, tok, (size_t)(eq - tok));
        n->name[eq - tok] = '\0';
        memcpy(n->ns_addr, eq + 1, strlen(eq + 1) + 1);
    }
    if (air->n_net == 0) {
        cli_error(prog, "--networks is required");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static json_t *device_json(lab_dev *d)
{
    se_info i;
    json_t *o = json_object();
    int e = se_get_info(&d->e, &i) != SE_OK;
    e |= cli_json_set_be(o, "DevEUI", d->dev_eui, 16);
    e |= cli_json_set_be(o, "JoinEUI", i.join_eui, 16);
    e |= cli_json_set_uint(o, "ActiveSlot", i.active_slot);
    e |= cli_json_set_uint(o, "ProfileID", i.active_profile_id);
    e |= cli_json_set_bool(o, "OnTrial", i.on_trial);
    e |= cli_json_set_bool(o, "Joined", i.joined);
    e |= cli_json_set_uint(o, "DR", d->dr);
    e |= cli_json_set_uint(o, "JoinRequests", d->st.join_requests);
    e |= cli_json_set_uint(o, "Joins", d->st.joins);
    e |= cli_json_set_uint(o, "Uplinks", d->st.uplinks);
    e |= cli_json_set_uint(o, "MLSUplinks", d->st.mls_uplinks);
    e |= cli_json_set_uint(o, "Downlinks", d->st.downlinks);
    e |= cli_json_set_uint(o, "MLSDownlinks", d->st.mls_downlinks);
    e |= cli_json_set_uint(o, "Rx1", d->st.rx1);
    e |= cli_json_set_uint(o, "Rx2", d->st.rx2);
    e |= cli_json_set_uint(o, "LinkChecks", d->st.link_checks);
    e |= cli_json_set_uint(o, "Rejoins", d->st.rejoins);
    e |= cli_json_set_uint(o, "LostUp", d->st.lost_up);
    e |= cli_json_set_uint(o, "LostDown", d->st.lost_down);
    e |= cli_json_set_uint(o, "SecureCommands", d->st.secure_commands);
    if (d->last_secure_len > 0)
        e |= cli_json_set_hex(o, "LastSecureCommand", d->last_secure, d->last_secure_len);
    e |= json_object_set_new(o, "RadioSeconds", json_real(d->st.radio_s));
    e |= json_object_set_new(o, "SimulatedSeconds", json_real(d->st.sim_s));
    e |= cli_json_set_uint(o, "MLSDownCounter", i.mls_down_counter);
    if (e != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int cli_lab_devices_main(int argc, char **argv)
{
    static const char prog[] = "ferry lab devices";
    static const cli_opt_spec specs[] = {
        {"networks", "NAME=ADDR:PORT,...", "the networks' packet-forwarder ports; every device is in range of all"},
        {"until", "GOAL", "joined | joined:JOINEUI | switched | bootstrap | secure | uplinks:N (default joined)"},
        {"loss", "P", "probability that an uplink or a downlink is lost (default 0)"},
        {"workers", "N", "worker threads, each with one gateway per network (default 8)"},
        {"dr", "D", "EU868 data rate of the uplinks, 0..5 (default: 5, or spread over 0..5 with 'mixed')"},
        {"seconds", "S", "wall-time budget (default: 60 + 4 per device, times 3 in a sanitizer build)"},
        {"max-steps", "N", "class A exchanges per device at most (default 400)"},
        {"down", "NAME", "a network that is switched off (its gateways hear nothing)"},
        {"in-flight", "N", "class A exchanges each worker has open at once (default 32)"},
        {"gateway-eui-base", "E", "EUI of the first gateway (default AA555A, this process's id, then zeros): "
                                  "two runs against one network need different ones"},
        {"stack", "S", "ferry (default: the lab's own devices) or loramac-node (an lmn_node process per image, "
                       "`make loramac`)"},
        {"clock", "wall|simulated", "wall (default): receive windows waited for; simulated: a discrete-event clock "
                                    "(the networks' lab NS need clock = simulated)"},
        {"gateways", "G", "simulated clock: cells, each with one gateway per network (default: --workers)"},
    };
    enum { NSPEC = 13 };
    char *v[NSPEC];
    char **pos = calloc(MAX_DEVICES, sizeof *pos);
    size_t npos = 0;
    if (pos == NULL)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    switch (cli_opts_parse(prog, specs, NSPEC, argc, argv, v, pos, MAX_DEVICES, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry lab devices --networks NAME=ADDR:PORT,... [options] IMAGE...", specs, NSPEC);
        free(pos);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        free(pos);
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    lab_air air;
    memset(&air, 0, sizeof air);
    goal g;
    char nets[1024];
    if (npos == 0 || v[0] == NULL || strlen(v[0]) >= sizeof nets) {
        cli_error(prog, "expected --networks and at least one image");
        free(pos);
        return CLI_EXIT_USAGE;
    }
    memcpy(nets, v[0], strlen(v[0]) + 1);
    if ((rc = parse_networks(prog, nets, &air)) != CLI_EXIT_OK || (rc = parse_goal(prog, v[1], &g)) != CLI_EXIT_OK) {
        free(pos);
        return rc;
    }
    double loss = v[2] != NULL ? atof(v[2]) : 0.0;
    int workers = v[3] != NULL ? atoi(v[3]) : 8;
    bool mixed = v[4] != NULL && strcmp(v[4], "mixed") == 0;
    int dr = v[4] != NULL && !mixed ? atoi(v[4]) : 5;
    /* The default budget grows with the fleet and the build: a fixed one
     * sized on a quiet machine fails a slow or busy one (docs/testing.md). */
    double seconds = v[5] != NULL ? atof(v[5]) : (60.0 + 4.0 * (double)npos) * cli_build_slowness();
    int max_steps = v[6] != NULL ? atoi(v[6]) : 400;
    int in_flight = v[8] != NULL ? atoi(v[8]) : 32;
    if (loss < 0 || loss >= 1 || workers < 1 || workers > 256 || dr < 0 || dr > 5 || seconds <= 0 || max_steps < 1 ||
        in_flight < 1 || in_flight > 4096) {
        cli_error(prog, "--loss 0..<1, --workers 1..256, --dr 0..5 or mixed, --seconds > 0, --max-steps >= 1, "
                        "--in-flight 1..4096");
        free(pos);
        return CLI_EXIT_USAGE;
    }
    /* Gateways are told apart by EUI: two runs at once with the same ones
     * would take each other's downlinks (the NS answers the EUI that heard
     * the uplink). Networks and workers take the low 24 bits. */
    uint64_t gw_base = 0xAA555A0000000000ull | ((uint64_t)((unsigned)getpid() & 0xFFFFu) << 24);
    if (v[9] != NULL && (cli_parse_hex_uint(prog, "--gateway-eui-base", v[9], 16, "a gateway EUI", &gw_base) !=
                             CLI_EXIT_OK ||
                         (gw_base & 0xFFFFFFu) != 0)) {
        cli_error(prog, "--gateway-eui-base: 16 hex digits ending in six zeros");
        free(pos);
        return CLI_EXIT_USAGE;
    }
    long gateways = v[12] != NULL ? strtol(v[12], NULL, 10) : 0;
    if ((v[11] != NULL && lab_clock_parse(v[11], &air.clock) != LAB_OK) || gateways < 0 || gateways > 4096) {
        cli_error(prog, "--clock wall or simulated, --gateways 1..4096");
        free(pos);
        return CLI_EXIT_USAGE;
    }
    air.gateways = (unsigned)gateways;
    if (air.clock == LAB_CLOCK_SIMULATED && v[8] == NULL)
        in_flight = CLI_LAB_SIM_IN_FLIGHT;
    air.loss_up = air.loss_down = loss;
    air.in_flight = (unsigned)in_flight;
    /* The receive windows are kept in wall time, and a slower build answers
     * later: the margin past RX2 grows with it, as the budget does. */
    air.window_margin_ms = (int)(300 * cli_build_slowness());
    for (size_t i = 0; v[7] != NULL && i < air.n_net; i++)
        if (strcmp(air.net[i].name, v[7]) == 0)
            air.net[i].down = true;
    if (v[10] != NULL && strcmp(v[10], "ferry") != 0) {
        if (strcmp(v[10], "loramac-node") != 0) {
            cli_error(prog, "--stack ferry or loramac-node");
            free(pos);
            return CLI_EXIT_USAGE;
        }
        if (air.clock == LAB_CLOCK_SIMULATED) {
            cli_error(prog, "--stack loramac-node runs on the wall clock: leave out --clock simulated");
            free(pos);
            return CLI_EXIT_USAGE;
        }
        if (npos > 1000) {
            cli_error(prog, "--stack loramac-node: at most 1000 images (each device is a process)");
            free(pos);
            return CLI_EXIT_USAGE;
        }
        rc = run_lmn(prog, &air, &g, pos, npos, mixed, dr, seconds);
        free(pos);
        return rc;
    }
    lab_dev *devs = calloc(npos, sizeof *devs);
    g.base = calloc(npos, sizeof *g.base);
    g.devs = devs;
    lab_fleet *f = NULL;
    size_t opened = 0;
    if (devs == NULL || g.base == NULL) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (; opened < npos; opened++) {
        uint8_t d_dr = mixed ? (uint8_t)(opened % 6) : (uint8_t)dr;
        if (lab_dev_open(&devs[opened], pos[opened], d_dr, (1u << air.n_net) - 1, 0x1234567u + (uint32_t)opened * 7919u) !=
            LAB_OK) {
            cli_error(prog, "%s: not a secure element image", pos[opened]);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
    }
    lab_status ls = lab_fleet_new(&air, (unsigned)workers, gw_base, &f);
    if (ls != LAB_OK) {
        cli_error(prog, "gateways: %s (is every network server listening?)", lab_strerror(ls));
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < npos && rc == CLI_EXIT_OK; i++)
        if (lab_fleet_add(f, &devs[i]) != LAB_OK)
            rc = CLI_EXIT_FAIL;
    size_t done = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == CLI_EXIT_OK && lab_fleet_run(f, want, &g, (unsigned)max_steps, seconds, &done) != LAB_OK)
        rc = CLI_EXIT_FAIL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double used = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    bool ran_out = done < npos && used >= seconds;
    if (rc == CLI_EXIT_OK && done < npos)
        cli_error(prog, "%zu of %zu devices reached the goal; %s", done, npos,
                  ran_out ? "the wall-time budget ran out (--seconds)" : "the others used up --max-steps");
    json_t *out = json_object(), *list = json_array();
    for (size_t i = 0; i < opened; i++) {
        if (lab_dev_save(&devs[i]) != LAB_OK) {
            cli_error(prog, "%s: could not write the image back", devs[i].path);
            rc = CLI_EXIT_FAIL;
        }
        json_t *o = device_json(&devs[i]);
        if (o != NULL)
            json_array_append_new(list, o);
    }
    json_object_set_new(out, "devices", list);
    int e = cli_json_set_uint(out, "done", done);
    e |= cli_json_set_uint(out, "total", npos);
    e |= json_object_set_new(out, "SecondsBudget", json_real(seconds));
    e |= json_object_set_new(out, "SecondsUsed", json_real(used));
    e |= json_object_set_new(out, "BudgetRanOut", json_boolean(ran_out));
    if (f != NULL) {
        lab_fleet_counters c;
        lab_fleet_counters_get(f, &c);
        json_t *gw = json_object();
        e |= cli_json_set_uint(gw, "PushSent", c.push_sent);
        e |= cli_json_set_uint(gw, "PushAcked", c.push_acked);
        e |= cli_json_set_uint(gw, "DownReceived", c.down_received);
        e |= cli_json_set_uint(gw, "DownMissed", c.down_missed);
        e |= cli_json_set_uint(gw, "DownRefused", c.down_refused);
        e |= cli_json_set_uint(gw, "Exchanges", c.exchanges);
        e |= cli_json_set_uint(gw, "InFlightMax", c.in_flight_max);
        if (air.clock == LAB_CLOCK_SIMULATED)
            e |= json_object_set_new(out, "simulated", cli_lab_sim_json(&c));
        e |= json_object_set_new(out, "gateways", gw);
    }
    int erc = cli_json_emit(prog, out, e);
    if (rc == CLI_EXIT_OK)
        rc = erc != CLI_EXIT_OK ? erc : done == npos ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
    lab_fleet_free(f);
    for (size_t i = 0; i < opened; i++)
        lab_dev_close(&devs[i]);
    free(devs);
    free(g.base);
    free(pos);
    return rc;
}
