# idm_fleet.sh - what the IDM's delivery tests share (idm_ota.sh,
# idm_restart.sh, idm_pg_multi.sh): the two deployments and the batch, the
# customer tenant, and the end of a fleet delivery (what each SE says against
# what the IDM recorded). Sourced; uses the caller's FERRY, tmp, check (TAP)
# and the variables named below.
#
#   idm_deployments COUNT DEVEUI_BASE [ARG...]
#                      the IDM deployment in $idm (bootstrap JS on $P_JS;
#                      ARGs go to its `ferry init`, e.g. --database) with the
#                      KEKs $HSAKEK (hsa-idm), $NSKEK (bootstrap-ns), idm-as
#                      and $CKEK (acme-kek), the bootstrap NS's peer token in
#                      $nsd; the customer's JS deployment in $cust (on $P_C,
#                      acme-kek and $CNSKEK as acme-ns, NS 000013's token in
#                      $nsd); COUNT SEs personalised into $out. Output in
#                      $tmp/setup.log, errors in $tmp/err; non-zero on failure
#   idm_fleet_tenant   the batch imported, `idm init` (listen $P_IDM), quick
#                      re-sends and housekeeping (retry_base 0, poll 1), the
#                      customer tenant acme ($tmp/acme.tok) and its JS acme-js
#                      (appends to the same files)
#   idm_fleet_owners   DevEUI and owner token of every SE, from the QR
#                      payloads of the batch, into $tmp/owners ("DEVEUI
#                      TOKEN" lines) and SES (the DevEUIs), checked: COUNT
#   idm_fleet_emulators  one `ferry se serve` per SE of $SES (images in
#                      $out, sockets in $sd, pids added to $se_pids), checked
#                      up; then the stand-in's configuration $tmp/fleet.json
#                      (idm_fleet.js) with IDM_URLS (a JSON list of idm
#                      serve's base URLs), loss 10% both ways, seed $SEED,
#                      DEADLINE and STALL seconds (scaled here)
#   idm_fleet_verify   (SES, COUNT, sd the emulators' sockets, q one SQL
#                      query on the IDM's database with rows as a|b|c: the
#                      sqlite3 shell or psql -tA; the SQL runs on both)
#                      every SE (`ferry se info`): its first customer
#                      profile active and joined at the customer's JoinEUI;
#                      it accepted exactly the MLS counters the IDM sealed
#                      for it (PROFILE_CMDS); every command done; one
#                      profile_queued and one response per command in the
#                      audit. Leaves $tmp/both (DEVEUI|slot|joined|joineui|
#                      MLSDownCounter|profile|commands|done|queued|responses).
#   PROFILE_CMDS       the MLS commands of one profile: 1, an INSTALL that
#                      activates at once (docs/idm.md, "Provisioning")
PROFILE_CMDS=1
idm_deployments() {
    _count=$1; _base=$2; shift 2
    {
        "$FERRY" init "$idm" --join-eui 70B3D57ED0000000 --listen "127.0.0.1:$P_JS" "$@" &&
        echo "$HSAKEK" | $FERRY -d "$idm" kek import hsa-idm && echo "$NSKEK" | $FERRY -d "$idm" kek import bootstrap-ns &&
        $FERRY -d "$idm" kek generate idm-as && $FERRY -d "$idm" peer add 000000 --token-out "$nsd/bootstrap-ns.tok" &&
        echo "$CKEK" | $FERRY -d "$idm" kek import acme-kek &&
        "$FERRY" init "$cust" --join-eui 70B3D57ED00A0000 --listen "127.0.0.1:$P_C" &&
        echo "$CKEK" | $FERRY -d "$cust" kek import acme-kek && echo "$CNSKEK" | $FERRY -d "$cust" kek import acme-ns &&
        $FERRY -d "$cust" peer add 000013 --token-out "$nsd/acme-ns.tok" &&
        echo "$HSAKEK" | "$FERRY" hsa personalise --count "$_count" --out "$out" --kek-label hsa-idm --mac-version 1.0.4 \
            --dev-eui-base "$_base"
    } >"$tmp/setup.log" 2>"$tmp/err"
}
idm_fleet_tenant() {
    {
        $FERRY -d "$idm" idm import "$out/batch.jsonl" &&
        $FERRY -d "$idm" idm init --ns-token-out "$nsd/idm-ns.tok" --listen "127.0.0.1:$P_IDM" &&
        $FERRY -d "$idm" idm config set retry_base 0 poll 1 >/dev/null &&
        $FERRY -d "$idm" idm tenant add acme --kind customer --name "Acme Corp" --token-out "$tmp/acme.tok" &&
        $FERRY -d "$idm" idm js add acme-js --tenant acme --url "http://127.0.0.1:$P_C" \
            --admin-token-file "$cust/admin.token" --join-eui 70B3D57ED00A0000 --net-id 000013 --kek-label acme-kek \
            --ns-kek-label acme-ns
    } >>"$tmp/setup.log" 2>>"$tmp/err"
}
idm_fleet_owners() {
    sed -n 's/.*"DevEUI":"\([0-9A-F]\{16\}\)".*"QR":"[^"]*:O\([0-9A-F]\{32\}\)".*/\1 \2/p' "$out/batch.jsonl" >"$tmp/owners"
    SES=$(cut -d' ' -f1 "$tmp/owners")
    check "$COUNT owner tokens read from the QR payloads" '[ "$(wc -l <"$tmp/owners")" -eq "$COUNT" ]'
}
idm_fleet_emulators() { # IDM_URLS DEADLINE STALL
    for e in $SES; do
        "$FERRY" se serve --image "$out/se-$e.img" --socket "$sd/$e.sock" 2>>"$tmp/se.log" &
        se_pids="$se_pids $!"
    done
    wait_until "$COUNT SE emulators' sockets in $sd" 90 '[ "$(ls "$sd" | grep -c "\.sock$")" -ge "$COUNT" ]'
    check "$COUNT SE emulators up" '[ "$(ls "$sd" | grep -c "\.sock$")" -eq "$COUNT" ]'
    {
        printf '{"ses":['
        sep=""
        for e in $SES; do printf '%s{"devEui":"%s","sock":"%s"}' "$sep" "$e" "$sd/$e.sock"; sep=","; done
        printf '],"state":"%s",' "$nsd/fleet.json"
        printf '"bootstrap":{"url":"http://127.0.0.1:%s/","tokenFile":"%s","kek":"%s","netId":"000000"},' "$P_JS" \
            "$nsd/bootstrap-ns.tok" "$NSKEK"
        printf '"customer":{"url":"http://127.0.0.1:%s/","tokenFile":"%s","kek":"%s","netId":"000013","joinEui":"70B3D57ED00A0000"},' \
            "$P_C" "$nsd/acme-ns.tok" "$CNSKEK"
        printf '"idm":{"urls":%s,"tokenFile":"%s"},' "$1" "$nsd/idm-ns.tok"
        printf '"maxdl":20,"lossUp":0.1,"lossDown":0.1,"seed":%s,"concurrency":8,"interval":1000,"deadline":%s,"stall":%s,' \
            "$SEED" "$(scaled "$2")" "$(scaled "$3")"
        printf '"maxUplinks":1500,"httpTimeout":%s}\n' "$(scaled 20)"
    } >"$tmp/fleet.json"
}
idm_fleet_verify() {
    mkdir -p "$tmp/info"
    echo "$SES" | tr ' ' '\n' | xargs -P 4 -I{} sh -c '"$FERRY" se info --socket "$1/$2.sock" >"$3/$2.json" 2>&1' sh "$sd" {} "$tmp/info"
    : >"$tmp/se-state"
    for e in $SES; do
        f="$tmp/info/$e.json"
        slot=$(sed -n 's/.*"ActiveSlot": \([0-9]*\).*/\1/p' "$f")
        joined=$(sed -n 's/.*"Joined": \([a-z]*\).*/\1/p' "$f")
        jeui=$(sed -n 's/.*"JoinEUI": "\([0-9a-f]*\)".*/\1/p' "$f")
        prof=$(sed -n 's/.*"ActiveProfileID": \([0-9]*\).*/\1/p' "$f")
        down=$(sed -n 's/.*"MLSDownCounter": \([0-9]*\).*/\1/p' "$f")
        echo "$e|${slot:-?}|${joined:-?}|${jeui:-?}|${down:-?}|${prof:-?}" >>"$tmp/se-state"
    done
    grep -v '|[12]|true|70b3d57ed00a0000|[0-9]*|1$' "$tmp/se-state" >"$tmp/err"
    check "every SE (ferry se info): its first customer profile (id 1) active in a customer slot, joined, the customer's JoinEUI" \
        '[ ! -s "$tmp/err" ]'
    # per SE: commands sealed, commands done, profile_queued entries, non-stale responses
    q "SELECT s.dev_eui,
              (SELECT count(*) FROM idm_cmd c WHERE c.dev_eui = s.dev_eui),
              (SELECT count(*) FROM idm_cmd c WHERE c.dev_eui = s.dev_eui AND c.state = 'done'),
              (SELECT count(*) FROM idm_audit a WHERE a.subject = s.dev_eui AND a.action = 'idm.se.profile_queued'),
              (SELECT count(*) FROM idm_audit a WHERE a.subject = s.dev_eui AND a.action = 'idm.mls.response'
                                                  AND a.details NOT LIKE '%stale%')
       FROM idm_se s ORDER BY s.dev_eui" >"$tmp/idm-state"
    sort "$tmp/se-state" >"$tmp/a"; sort "$tmp/idm-state" >"$tmp/b"
    join -t '|' "$tmp/a" "$tmp/b" >"$tmp/both"
    check "the IDM's records of all $COUNT SEs" '[ "$(wc -l <"$tmp/both")" -eq "$COUNT" ]'
    awk -F'|' -v k="$PROFILE_CMDS" '$5 != $7 || $7 != k' "$tmp/both" >"$tmp/err"
    check "every SE accepted exactly the MLS counters the IDM sealed for it (MLSDownCounter = commands = $PROFILE_CMDS): none twice, none lost" \
        '[ ! -s "$tmp/err" ]'
    q "SELECT dev_eui, seq, type, counter, state FROM idm_cmd WHERE state <> 'done'" >"$tmp/err"
    check "every idm_cmd row is done ($(q "SELECT count(*) FROM idm_cmd") commands)" \
        '[ ! -s "$tmp/err" ] && [ "$(q "SELECT count(*) FROM idm_cmd")" = "$((PROFILE_CMDS * COUNT))" ]'
    awk -F'|' '$9 != 1' "$tmp/both" >"$tmp/err"
    check "audit: exactly one idm.se.profile_queued per SE" '[ ! -s "$tmp/err" ]'
    awk -F'|' '$10 != $7' "$tmp/both" >"$tmp/err"
    check "audit: one idm.mls.response per command, none recorded twice, none missing" '[ ! -s "$tmp/err" ]'
    awk -F'|' '{ c["MLSDownCounter " $5 ", IDM: " $8 " of " $7 " commands done"]++ } END { for (k in c) print "# " c[k] " SEs: " k }' \
        "$tmp/both" | sort
    echo "# audit: $(q "SELECT count(*) FROM idm_audit WHERE action = 'idm.mls.response' AND details LIKE '%stale%'") stale (repeated) responses acknowledged without effect"
}
