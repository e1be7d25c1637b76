#!/bin/sh
# A BEAM node that joins a rollcall file registry the way the classic Elixir
# setup does: a file named by the node name whose first line is an ISO-8601
# UTC timestamp, rewritten every second.  Every second it also lists the
# registry and net_adm:ping's each entry, printing `ping NODE pong|pang`.
#   env: ROLLCALL_COOKIE (required), REGISTRY_DIR, BEAM_NAME (default beam)
set -eu
dir="${REGISTRY_DIR:-/var/lib/rollcall/registry}"
ip="$(hostname -i | cut -d' ' -f1)"
node="${BEAM_NAME:-beam}@$ip"

# The cookie goes into ~/.erlang.cookie (owner-only), not onto argv.
umask 077
printf '%s' "${ROLLCALL_COOKIE:?ROLLCALL_COOKIE must be set}" > "$HOME/.erlang.cookie"
chmod 0400 "$HOME/.erlang.cookie"
umask 022

heartbeat() {
    while :; do
        date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/.$node.tmp" && mv -f "$dir/.$node.tmp" "$dir/$node"
        sleep 1
    done
}
heartbeat &

export ROLLCALL_BEAM_DIR="$dir"
exec erl -name "$node" -noshell -eval '
    Dir = os:getenv("ROLLCALL_BEAM_DIR"),
    Self = atom_to_list(node()),
    io:format("beam node ~s up~n", [Self]),
    Loop = fun Loop() ->
        Names = case file:list_dir(Dir) of
                    {ok, Fs} -> lists:sort([F || F <- Fs, hd(F) =/= $., F =/= Self]);
                    _ -> []
                end,
        [io:format("ping ~s ~s~n", [N, net_adm:ping(list_to_atom(N))]) || N <- Names],
        timer:sleep(1000),
        Loop()
    end,
    Loop().'
