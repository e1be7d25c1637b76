#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% The baseline of the benchmarks (tests/bench/bench.py): what a BEAM node
%% does in the classic self-discovering Elixir cluster, as a loop. Every
%% interval: list the registry directory, net_adm:ping each name in turn,
%% log. Started by bench.py with the node name, cookie and EPMD port in the
%% environment (ERL_FLAGS="-name ... -setcookie ... -hidden", ERL_EPMD_PORT),
%% so the node finds its peers through EPMD exactly as an Elixir node would.
%%
%%   baseline.escript REGDIR INTERVAL_MS SWEEPS
%%
%% SWEEPS = 0 loops until stdin closes (or the node is killed). Per sweep it
%% prints one line on stdout:
%%
%%   SWEEP <wall ms at start> <duration us> <names pinged> <pongs>
%%
%% The interval is measured start to start, like rollcall's timer; a sweep
%% longer than the interval starts the next one at once.
-mode(compile).

main([RegDir, IntervalMs, Sweeps]) ->
    %% stdin closing (bench.py ending) halts the node
    Self = self(),
    spawn(fun() -> watch_stdin(Self) end),
    io:format("READY ~s~n", [node()]),
    loop(RegDir, list_to_integer(IntervalMs), list_to_integer(Sweeps), 1).

watch_stdin(_Parent) ->
    case io:get_line('') of
        eof -> halt(0);
        {error, _} -> halt(0);
        _ -> watch_stdin(_Parent)
    end.

loop(RegDir, Interval, Sweeps, I) ->
    T0 = erlang:monotonic_time(microsecond),
    Wall = os:system_time(millisecond),
    Names = case file:list_dir(RegDir) of
                {ok, Fs} -> [list_to_atom(F) || F <- lists:sort(Fs),
                                                 lists:member($@, F),
                                                 list_to_atom(F) =/= node()];
                {error, _} -> []
            end,
    Pongs = length([N || N <- Names, net_adm:ping(N) =:= pong]),
    Dur = erlang:monotonic_time(microsecond) - T0,
    io:format("SWEEP ~b ~b ~b ~b~n", [Wall, Dur, length(Names), Pongs]),
    case Sweeps =/= 0 andalso I >= Sweeps of
        true -> halt(0);
        false ->
            Left = Interval - Dur div 1000,
            if Left > 0 -> timer:sleep(Left); true -> ok end,
            loop(RegDir, Interval, Sweeps, I + 1)
    end.
