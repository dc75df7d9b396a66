%% Erlang under swiftcr (scripts/programs-check.sh): the BEAM's scheduler,
%% dirty-scheduler and async threads, its child port helper, its allocators'
%% carriers and its timers. A ring of 1000 Erlang processes passes a counter
%% round each tick (it must come back as 1000), an ETS table of 100000 rows
%% must still sum to what it held, and a ring process's reply carries the
%% tick's number; the garbage collector runs every tick.
-module(erlang_ring).
-export([main/0]).

main() ->
    Table = ets:new(squares, [public, set]),
    [ets:insert(Table, {I, I * I}) || I <- lists:seq(1, 100000)],
    Expected = lists:sum([I * I || I <- lists:seq(1, 100000)]),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> relay(Next) end) end, self(), lists:seq(1, 1000)),
    tick(Table, Expected, First, 0).

relay(Next) ->
    receive {Tick, N} -> Next ! {Tick, N + 1}, relay(Next) end.

tick(Table, Expected, First, Tick) ->
    First ! {Tick, 0},
    receive
        {Tick, 1000} -> ok;
        Other -> io:format("Error: the ring gave ~p in tick ~p~n", [Other, Tick]), halt(1)
    after 5000 -> io:format("Error: the ring never answered tick ~p~n", [Tick]), halt(1)
    end,
    case ets:foldl(fun({_, V}, Sum) -> Sum + V end, 0, Table) of
        Expected -> ok;
        Sum -> io:format("Error: the table sums to ~p, not ~p~n", [Sum, Expected]), halt(1)
    end,
    erlang:garbage_collect(),
    io:format("tick ~p ok~n", [Tick]),
    timer:sleep(200),
    tick(Table, Expected, First, Tick + 1).
