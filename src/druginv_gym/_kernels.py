"""The compiled backend's kernels (numba, from the ``fast`` extra), all in one module.

Each kernel is plain Python over numpy arrays, written as explicit loops for numba;
:func:`druginv_gym.dynamics.compiled` compiles it once per process (cached on disk). Nothing here
imports numba, so ``import druginv_gym`` does not pay for it.

* :func:`flow_kernel` is :func:`druginv_gym.dynamics.flow_step`'s numpy code written as one loop
  per env and drug, so a slot is one pass over memory instead of ~40 array operations (each a
  Python call and a full pass). The formulas and their order of operations per element are the
  numpy code's; only the sums over drugs (spend, volume) are summed in another order. Tests
  check it against the numpy flows and the test suite's by-age oracle.
* :func:`observe_kernel` and :func:`decode_box_kernel` are
  :meth:`~druginv_gym.envs.core.RefillCore.observe` and ``decode`` (box actions).
* :func:`step_box_kernel` chains the three for one env step of the box ids: one compiled call a
  step instead of three, plus the state copies, so a single env's step is mostly Python-free.
* With a supply model (:mod:`druginv_gym.supply`): :func:`supply_flow_kernel` is
  ``dynamics._flow_step_supply`` (the pipeline, outages, recalls, the alternative source),
  :func:`observe_supply_kernel` the supply model's observation features, and
  :func:`step_box_supply_kernel` chains decode, the supply flow and both observation kernels.
* :func:`drug_costs` is the per-drug cost formula of :func:`supply_flow_kernel`;
  :func:`flow_kernel` keeps the same lines inline (calling it there ran at 0.94-0.96 of the
  old step speed, `benchmarks/RESULTS.md`).

The kernels live in one file because numba's disk cache checks only the file of the function it
compiled: a kernel that calls another must share its file to be recompiled when it changes.
"""

from __future__ import annotations

import numpy as np

#: Envs per chunk in :func:`step_box_kernel`: each chunk is copied, played and observed before
#: the next, so its arrays (~14 KB an env at 70 drugs) are still in cache from one phase to the
#: next; at 1024 envs this is ~1.25x faster than running each phase over all envs.
STEP_CHUNK = 32

#: The per-drug parameters in the rows of the kernels' ``static`` argument
#: (:func:`druginv_gym.dynamics._static_rows` builds it from these names).
STATIC_ROWS = (
    "refill_lo", "refill_hi", "unit_volume", "shelf_life", "alpha", "knee_lo", "knee_hi",
    "penalty_lo", "penalty_hi", "shortage_cost", "stock_cap",
)  # fmt: skip
#: The rows of :func:`flow_kernel`'s ``out`` block, named as the fields of
#: :class:`druginv_gym.dynamics.SlotOutcome` they fill (``total``: its ``drug_total``).
FLOW_OUTPUTS = (
    "accepted", "served", "unmet", "expired", "level", "spend", "purchase", "storage",
    "penalty", "shortage", "total",
)  # fmt: skip
#: The rows of the kernels' per-env ``sums`` (sums over drugs, USD).
SUM_ROWS = ("purchase", "storage", "penalty", "shortage", "total", "spend")
#: The rows of :func:`step_box_kernel`'s ``block``: the requested units, the flow outputs, the
#: slot's demand.
STEP_BLOCK = ("ordered", *FLOW_OUTPUTS, "demand")


def drug_costs(static, i, price, accepted, rate, level, shortage):
    """Drug ``i``'s four cost terms and their sum (USD), as
    :func:`druginv_gym.dynamics.slot_costs`: ``alpha p x``, ``r * unit_volume * v``, the band
    penalty ``phi(v)`` and ``shortage`` (given: what unmet demand costs)."""
    purchase = static[4, i] * price * accepted
    storage = rate * static[2, i] * level
    below = max(static[5, i] - level, 0.0)
    above = max(level - static[6, i], 0.0)
    penalty = static[7, i] * below * below + static[8, i] * above * above
    return purchase, storage, penalty, shortage, purchase + storage + penalty + shortage


def flow_kernel(
    arrived, left, ring, spent, t, requested, demand, price, rate, budget, emergency, static,
    limits, out, sums, per_drug_costs, b0, b1,
):  # fmt: skip
    """:func:`druginv_gym.dynamics.flow_step` for envs ``b0 <= b < b1``. ``emergency``: (B, N)
    the premium price a unit of unmet demand pays on top of the shortage cost (zeros with the
    exogenous premium); ``static``: the
    :data:`STATIC_ROWS` parameters, ``limits``: total budget, storage capacity, safety factor;
    ``out``: (11, B, N), the :data:`FLOW_OUTPUTS` rows; ``sums``: (6, B) per-env purchase,
    storage, penalty, shortage, total and spend. With ``per_drug_costs`` false, rows 5-9 of
    ``out`` (spend and the four cost terms per drug) are left unwritten: the envs report only
    their per-env sums, and at 1024 envs those five rows are ~3 MB of memory traffic a
    step."""
    refill_lo, refill_hi, unit_volume, shelf_life = static[0], static[1], static[2], static[3]
    alpha, knee_lo, knee_hi, k_lo, k_hi, short_cost, stock_cap = (
        static[4], static[5], static[6], static[7], static[8], static[9], static[10],
    )  # fmt: skip
    total_budget, capacity, safety = limits[0], limits[1], limits[2]
    accepted, served, unmet, expired, level, spend = out[0], out[1], out[2], out[3], out[4], out[5]
    purchase, storage, penalty, shortage, drug_total = out[6], out[7], out[8], out[9], out[10]
    n = requested.shape[1]
    big_l = ring.shape[1]
    slot = t % big_l
    # The ring slot holding arrived(t - L_i + 1) is the same for every env: -1 before slot 0.
    source = np.empty(n, dtype=np.int64)
    for i in range(n):
        a = t - int(shelf_life[i]) + 1
        source[i] = a % big_l if a >= 0 else -1
    for b in range(b0, b1):
        used = 0.0
        total = 0.0
        volume = 0.0
        for i in range(n):  # clip_orders: refill bounds, hard capacity, per-drug budget
            x = min(max(requested[b, i], refill_lo[i]), refill_hi[i])
            x = min(x, max(stock_cap[i] - (arrived[b, i] - left[b, i]), 0.0))
            p = price[b, i]
            if p > 0.0:
                x = min(x, budget[i] / p)
            accepted[b, i] = x
            total += p * x
            volume += x * unit_volume[i]
            used += (arrived[b, i] - left[b, i]) * unit_volume[i]
        remaining = max(total_budget - spent[b], 0.0)
        free = max(capacity - used, 0.0)
        factor = remaining / total if total > remaining else 1.0
        if volume > free:
            factor = min(factor, free / volume)
        factor = factor * safety if factor < 1.0 else 1.0
        paid = 0.0
        s_purchase = 0.0
        s_storage = 0.0
        s_penalty = 0.0
        s_shortage = 0.0
        s_total = 0.0
        for i in range(n):  # receive, serve FIFO, expire, cost
            x = accepted[b, i] * factor
            accepted[b, i] = x
            p = price[b, i]
            if per_drug_costs:
                spend[b, i] = p * x
            paid += p * x
            now = arrived[b, i] + x
            ring[b, slot, i] = now
            gone = min(left[b, i] + demand[b, i], now)
            served[b, i] = gone - left[b, i]
            short = max(demand[b, i] - served[b, i], 0.0)
            unmet[b, i] = short
            old = ring[b, source[i], i] if source[i] >= 0 else 0.0
            after = max(gone, old)
            expired[b, i] = after - gone
            arrived[b, i] = now
            left[b, i] = after
            v = now - after
            level[b, i] = v
            c_purchase = alpha[i] * p * x
            c_storage = rate[b, i] * unit_volume[i] * v
            below = max(knee_lo[i] - v, 0.0)
            above = max(v - knee_hi[i], 0.0)
            c_penalty = k_lo[i] * below * below + k_hi[i] * above * above
            c_shortage = (short_cost[i] + emergency[b, i]) * short
            c_total = c_purchase + c_storage + c_penalty + c_shortage
            if per_drug_costs:
                purchase[b, i] = c_purchase
                storage[b, i] = c_storage
                penalty[b, i] = c_penalty
                shortage[b, i] = c_shortage
            drug_total[b, i] = c_total
            s_purchase += c_purchase
            s_storage += c_storage
            s_penalty += c_penalty
            s_shortage += c_shortage
            s_total += c_total
        spent[b] += paid
        sums[0, b] = s_purchase
        sums[1, b] = s_storage
        sums[2, b] = s_penalty
        sums[3, b] = s_shortage
        sums[4, b] = s_total
        sums[5, b] = paid


#: The rows of :func:`supply_flow_kernel`'s ``out`` block: the :data:`FLOW_OUTPUTS`, the
#: slot's demand, then the supply model's per-drug arrays
#: (:data:`druginv_gym.dynamics.SUPPLY_INFO`). ``("ordered", *SUPPLY_OUTPUTS)`` is
#: :func:`step_box_supply_kernel`'s block: its first rows are :data:`STEP_BLOCK`'s.
SUPPLY_OUTPUTS = (
    *FLOW_OUTPUTS, "demand", "received", "pipeline", "outage_lost", "recalled", "alt_bought",
    "alt_spend",
)  # fmt: skip


def supply_flow_kernel(
    arrived, left, ring, pipe, spent, t, requested, demand, price, rate, budget, emergency,
    static, limits, fill, lead, recall, alt_price, alt_fill, out, sums, b0, b1,
):  # fmt: skip
    """:func:`druginv_gym.dynamics.flow_step` with a supply model (the numpy code is
    ``dynamics._flow_step_supply``) for envs ``b0 <= b < b1``: the order is clipped with its
    supplier's ``fill`` against the inventory position (stock plus the (B, H, N) ``pipe``),
    paid and put in the pipeline ``lead`` slots ahead; the oldest lot is recalled where
    ``recall`` is set; the slot's arrivals join the stock; FIFO service, the alternative source
    (``alt_fill`` of the unmet demand at ``alt_price``), expiry, costs. ``out``: (18, B, N), the
    :data:`SUPPLY_OUTPUTS` rows, all written; the other arguments as :func:`flow_kernel`'s."""
    refill_lo, refill_hi, unit_volume, shelf_life = static[0], static[1], static[2], static[3]
    short_cost, stock_cap = static[9], static[10]
    total_budget, capacity, safety = limits[0], limits[1], limits[2]
    accepted, served, unmet, expired, level, spend = out[0], out[1], out[2], out[3], out[4], out[5]
    purchase, storage, penalty, shortage, drug_total = out[6], out[7], out[8], out[9], out[10]
    demand_row, received, transit, outage_lost, recalled, alt_bought, alt_spend = (
        out[11], out[12], out[13], out[14], out[15], out[16], out[17],
    )  # fmt: skip
    n = requested.shape[1]
    big_l = ring.shape[1]
    horizon = pipe.shape[1]
    slot = t % big_l
    here = t % horizon
    first = max(t - big_l + 1, 0)  # the oldest slot whose lot may still be in stock
    source = np.empty(n, dtype=np.int64)
    for i in range(n):
        a = t - int(shelf_life[i]) + 1
        source[i] = a % big_l if a >= 0 else -1
    for b in range(b0, b1):
        used = 0.0
        total = 0.0
        volume = 0.0
        for i in range(n):  # clip_orders on the inventory position, with the supplier's fill
            position = arrived[b, i] - left[b, i]
            in_transit = 0.0
            for h in range(horizon):
                in_transit += pipe[b, h, i]
            position = position + in_transit
            bounded = min(max(requested[b, i], refill_lo[i]), refill_hi[i])
            outage_lost[b, i] = bounded * (1.0 - fill[b, i])
            x = bounded * fill[b, i]
            x = min(x, max(stock_cap[i] - position, 0.0))
            p = price[b, i]
            if p > 0.0:
                x = min(x, budget[i] / p)
            accepted[b, i] = x
            total += p * x
            volume += x * unit_volume[i]
            used += position * unit_volume[i]
        remaining = max(total_budget - spent[b], 0.0)
        free = max(capacity - used, 0.0)
        factor = remaining / total if total > remaining else 1.0
        if volume > free:
            factor = min(factor, free / volume)
        factor = factor * safety if factor < 1.0 else 1.0
        paid = 0.0
        s_purchase = 0.0
        s_storage = 0.0
        s_penalty = 0.0
        s_shortage = 0.0
        s_total = 0.0
        for i in range(n):  # order, recall, receive, serve FIFO, alternative source, expire
            x = accepted[b, i] * factor
            accepted[b, i] = x
            p = price[b, i]
            spend[b, i] = p * x
            paid += p * x
            pipe[b, (t + int(lead[b, i])) % horizon, i] += x
            gone = left[b, i]
            recalled[b, i] = 0.0
            if recall[b, i] > 0.0:  # left jumps over the rest of the oldest lot
                end = arrived[b, i]
                for a in range(first, t):
                    after_lot = ring[b, a % big_l, i]
                    if after_lot > gone:
                        end = after_lot
                        break
                recalled[b, i] = end - gone
                gone = end
            demand_row[b, i] = demand[b, i]
            got = pipe[b, here, i]
            pipe[b, here, i] = 0.0
            received[b, i] = got
            now = arrived[b, i] + got
            ring[b, slot, i] = now
            after_service = min(gone + demand[b, i], now)
            served[b, i] = after_service - gone
            short = max(demand[b, i] - served[b, i], 0.0)
            unmet[b, i] = short
            bought = alt_fill * short
            alt_bought[b, i] = bought
            alt_cost = alt_price[b, i] * bought
            alt_spend[b, i] = alt_cost
            old = ring[b, source[i], i] if source[i] >= 0 else 0.0
            after = max(after_service, old)
            expired[b, i] = after - after_service
            arrived[b, i] = now
            left[b, i] = after
            v = now - after
            level[b, i] = v
            lost = (short_cost[i] + emergency[b, i]) * (short - bought)
            c_purchase, c_storage, c_penalty, c_shortage, c_total = drug_costs(
                static, i, p, x, rate[b, i], v, lost + alt_cost
            )
            purchase[b, i] = c_purchase
            storage[b, i] = c_storage
            penalty[b, i] = c_penalty
            shortage[b, i] = c_shortage
            drug_total[b, i] = c_total
            s_purchase += c_purchase
            s_storage += c_storage
            s_penalty += c_penalty
            s_shortage += c_shortage
            s_total += c_total
            in_transit = 0.0
            for h in range(horizon):
                in_transit += pipe[b, h, i]
            transit[b, i] = in_transit
        spent[b] += paid
        sums[0, b] = s_purchase
        sums[1, b] = s_storage
        sums[2, b] = s_penalty
        sums[3, b] = s_shortage
        sums[4, b] = s_total
        sums[5, b] = paid


def observe_kernel(
    obs, template, nf, layout, price, rate, last_demand, budget, arrived, left, ring, played,
    spent, static, limits, scales, time_left, b0, b1,
):  # fmt: skip
    """:meth:`~druginv_gym.envs.core.RefillCore.observe`'s base features for envs ``b0 <= b <
    b1``, written into ``obs`` (``static``, ``limits``: :func:`druginv_gym.dynamics._static_rows`;
    ``scales``: the ``ObservationScales`` (price, units, rate, budget) and ``OBS_HIGH``;
    ``layout``: :func:`druginv_gym.observation.kernel_layout`, the column of each feature of
    :data:`druginv_gym.observation.KERNEL_LAYOUT` within a drug's row or the global block)."""
    unit_volume, shelf_life = static[2], static[3]
    total_budget, capacity = limits[0], limits[1]
    # the reciprocals observe() multiplies by, computed once (the same values)
    per_price, per_unit, per_rate, per_budget, hi = (
        1.0 / scales[0], 1.0 / scales[1], 1.0 / scales[2], 1.0 / scales[3], scales[4],
    )  # fmt: skip
    n = price.shape[1]
    big_l = ring.shape[1]
    g = n * nf
    # FlowState.expiring reads arrived(played - L_i + 1): 0 before slot 0, the current count
    # for slots not played yet, else the ring slot (the same for every env).
    source = np.empty(n, dtype=np.int64)
    for i in range(n):
        a = played - int(shelf_life[i]) + 1
        source[i] = -2 if a < 0 else (-1 if a >= played else a % big_l)
    c_price, c_rate, c_demand, c_budget, c_stock, c_expiring = (
        layout[0], layout[1], layout[2], layout[3], layout[4], layout[5],
    )  # fmt: skip
    g_budget, g_storage, g_time = g + layout[6], g + layout[7], g + layout[8]
    d = template.shape[0]
    for b in range(b0, b1):
        for j in range(d):  # an explicit loop: numba's slice assignment is ~20x slower here
            obs[b, j] = template[j]
        volume = 0.0
        for i in range(n):
            row = i * nf
            level = arrived[b, i] - left[b, i]
            obs[b, row + c_price] = min(price[b, i] * per_price, hi)
            obs[b, row + c_rate] = min(rate[b, i] * per_rate, hi)
            obs[b, row + c_demand] = min(last_demand[b, i] * per_unit, hi)
            obs[b, row + c_budget] = min(budget[i] * per_budget, hi)
            obs[b, row + c_stock] = min(level * per_unit, hi)
            k = source[i]
            old = 0.0 if k == -2 else (arrived[b, i] if k == -1 else ring[b, k, i])
            expiring = min(max(old - left[b, i], 0.0), level)
            obs[b, row + c_expiring] = min(expiring * per_unit, hi)
            volume += level * unit_volume[i]
        left_budget = max(total_budget - spent[b], 0.0)
        obs[b, g_budget] = left_budget / total_budget if total_budget > 0 else 0.0
        obs[b, g_storage] = min(volume / capacity, 1.0)
        obs[b, g_time] = time_left


def observe_supply_kernel(obs, nf, columns, pipe, played, fill, per_unit, hi, b0, b1):
    """``RefillCore._observe_supply`` for envs ``b0 <= b < b1``: a supply model's features,
    written into ``obs`` from drug-row column ``columns[0]`` on: ``columns[1]`` arriving units
    (``pipe[:, (played + k) % H]``, scaled by ``per_unit``, clipped at ``hi``), the last slot's
    fill (``fill``: the (B, T, N) trace; 1 before slot 0), then ``columns[2]`` announced fills
    (1 after the horizon)."""
    n = pipe.shape[2]
    big_h = pipe.shape[1]
    horizon = fill.shape[1]
    first, n_arriving, n_ahead = columns[0], columns[1], columns[2]
    for b in range(b0, b1):
        for i in range(n):
            col = i * nf + first
            for k in range(n_arriving):
                obs[b, col + k] = min(pipe[b, (played + k) % big_h, i] * per_unit, hi)
            col += n_arriving
            obs[b, col] = fill[b, played - 1, i] if played > 0 else 1.0
            for k in range(n_ahead):
                slot = played + k
                obs[b, col + 1 + k] = fill[b, slot, i] if slot < horizon else 1.0


def decode_box_kernel(frac, refill_lo, span, tol, out):
    """:meth:`~druginv_gym.envs.core.RefillCore.decode` for valid box actions: ``out =
    refill_lo + clip(frac, 0, 1) * span``. Returns -1, or the flat index of the first value that
    is not finite or is outside ``[-tol, 1 + tol]`` (then ``decode``'s own checks raise the
    error)."""
    n_env, n = frac.shape
    for b in range(n_env):
        for i in range(n):
            f = frac[b, i]
            if not (f >= -tol and f <= 1.0 + tol):  # NaN fails both
                return b * n + i
            out[b, i] = refill_lo[i] + min(max(f, 0.0), 1.0) * span[i]
    return -1


def summary_chunk(n_drugs):
    """Envs per chunk of the step kernels with the summary info: :data:`STEP_CHUNK`, fewer
    when the drugs are many, so that a chunk's scratch block (13-19 rows of ``chunk x N``
    float64) stays within about 4 MB of cache at 2,000 drugs and a few hundred KB at 70."""
    return max(1, min(STEP_CHUNK, 4096 // max(n_drugs, 1)))


def sum_rows(out, unit_rows, units, b0):
    """``units[r, b0 + b] = sum_i out[unit_rows[r], b, i]`` for the envs of a chunk: the
    summary info's per-env totals of the chunk's per-drug outputs. Four partial sums over
    drugs ``i = k mod 4``, added at the end: four independent chains of additions instead of
    one (at 2,000 drugs a single chain cost about a tenth of the step)."""
    m, n = out.shape[1], out.shape[2]
    n4 = n - n % 4
    for r in range(unit_rows.shape[0]):
        row = unit_rows[r]
        for b in range(m):
            s0 = s1 = s2 = s3 = 0.0
            for i in range(0, n4, 4):
                s0 += out[row, b, i]
                s1 += out[row, b, i + 1]
                s2 += out[row, b, i + 2]
                s3 += out[row, b, i + 3]
            for i in range(n4, n):
                s0 += out[row, b, i]
            units[r, b0 + b] = (s0 + s1) + (s2 + s3)


def step_box_kernel(
    frac, refill_lo, span, tol, arrived, left, ring, spent, t, demand, price, rate, budget,
    emergency, static, limits, block, sums, new_state, new_spent, obs, template, nf, layout,
    price_next, rate_next, budget_next, scales, time_left, scratch, unit_rows, units,
):  # fmt: skip
    """One env step of the box ids: decode ``frac`` into ``block[0]`` (the requested units),
    then, :data:`STEP_CHUNK` envs at a time, play slot ``t`` (:func:`flow_kernel`, outputs in
    ``block[1:12]`` but for the per-drug spend and cost terms, which it leaves unwritten;
    per-env sums in ``sums``), copy the slot's demand into ``block[12]`` (rows named in
    :data:`STEP_BLOCK`) and write the next observation into ``obs``.

    The state is not changed in place: the new cumulative counts go to ``new_state`` (2, B, N)
    (arrived, left) and ``new_spent`` (B,), so arrays handed out earlier keep their values; only
    the arrival ring gets this slot's row, as in the numpy backend. Returns -1, or (before
    anything is written) the flat index of the first invalid action value, as
    :func:`decode_box_kernel`.

    The summary info (``scratch`` not empty, see :func:`summary_chunk`): ``block`` is only its
    first row (the requested units, ``(1, B, N)``), the per-drug outputs of a chunk go to
    ``scratch`` ``(13, chunk, N)`` instead, and ``units[r]`` gets the per-env sum over drugs of
    scratch row ``unit_rows[r]``. Otherwise ``scratch``, ``unit_rows`` and ``units`` are empty.
    """
    bad = decode_box_kernel(frac, refill_lo, span, tol, block[0])
    if bad >= 0:
        return bad
    n_env, n = demand.shape
    new_arrived, new_left = new_state[0], new_state[1]
    summary = scratch.shape[1] > 0
    chunk = scratch.shape[1] if summary else STEP_CHUNK
    for b0 in range(0, n_env, chunk):  # a chunk's arrays stay in cache across the phases
        b1 = min(b0 + chunk, n_env)
        out = scratch[:, : b1 - b0] if summary else block[:, b0:b1]
        for b in range(b0, b1):
            new_spent[b] = spent[b]
            for i in range(n):
                new_arrived[b, i] = arrived[b, i]
                new_left[b, i] = left[b, i]
                out[12, b - b0, i] = demand[b, i]
                if summary:
                    out[0, b - b0, i] = block[0, b, i]
        flow_kernel(
            new_arrived[b0:b1], new_left[b0:b1], ring[b0:b1], new_spent[b0:b1], t, out[0],
            demand[b0:b1], price[b0:b1], rate[b0:b1], budget, emergency[b0:b1], static, limits,
            out[1:12], sums[:, b0:b1], False, 0, b1 - b0,
        )  # fmt: skip
        if summary:
            sum_rows(out, unit_rows, units, b0)
        observe_kernel(
            obs, template, nf, layout, price_next, rate_next, demand, budget_next, new_arrived,
            new_left, ring, t + 1, new_spent, static, limits, scales, time_left, b0, b1,
        )  # fmt: skip
    return -1


def step_one_kernel(
    frac, refill_lo, span, tol, arrived, left, ring, spent, t, demand, price, rate, budget,
    emergency, static, limits, out, sums, obs, template, nf, layout, scales, unit_rows, units,
):  # fmt: skip
    """:func:`step_box_kernel` for a single env (a batch of one) with fewer
    arguments, and the slicing done here rather than by the caller (each argument of a compiled
    call, and each view made in Python, costs a fixed ~0.1 µs, a tenth of a 70-drug step).

    ``frac`` (N,) the action; ``demand``, ``price``, ``rate`` the episode's (T, 1, N) arrays
    (slot-major), ``budget`` (T, N), ``emergency`` (T, 1, N), or one slot of zeros (1, 1, N)
    with the exogenous premium; ``out`` (15, N): the rows of :data:`STEP_BLOCK`, then the new
    ``arrived`` and ``left``; ``sums`` (7,): the rows of :data:`SUM_ROWS`, then the new spend;
    ``obs`` (D,) the next observation. The summary info: ``units[r, 0]`` gets the sum over
    drugs of ``out`` row ``unit_rows[r]`` (:func:`sum_rows`, as the batched summary step adds
    them); with the full info ``unit_rows`` is empty. Returns as :func:`step_box_kernel`."""
    horizon = demand.shape[0]
    shown = t + 1 if t + 1 < horizon else horizon - 1  # after the last slot: its prices
    extra = emergency[t] if emergency.shape[0] > 1 else emergency[0]
    block = out[:_N_STEP, None]
    bad = step_box_kernel(
        frac[None, :], refill_lo, span, tol, arrived, left, ring, spent, t, demand[t], price[t],
        rate[t], budget[t], extra, static, limits, block, sums[:6, None], out[_N_STEP:, None],
        sums[6:], obs[None, :], template, nf, layout, price[shown], rate[shown], budget[shown],
        scales, (horizon - t - 1) / horizon, np.empty((_N_STEP, 0, 0)), unit_rows[:0], units[:0],
    )  # fmt: skip
    if bad < 0 and unit_rows.shape[0] > 0:
        sum_rows(block, unit_rows, units, 0)
    return bad


#: The rows of :data:`STEP_BLOCK`.
_N_STEP = len(STEP_BLOCK)


def step_box_supply_kernel(
    frac, refill_lo, span, tol, arrived, left, ring, pipe, spent, t, demand, price, rate, budget,
    emergency, static, limits, fill, lead, recall, alt_price, alt_fill, block, sums, new_state,
    new_spent, obs, template, nf, layout, price_next, rate_next, budget_next, scales, time_left,
    fill_trace, columns, scratch, unit_rows, units,
):  # fmt: skip
    """:func:`step_box_kernel` with a supply model: decode, then, :data:`STEP_CHUNK` envs at a
    time, :func:`supply_flow_kernel` (outputs in ``block[1:]``, rows
    ``("ordered", *SUPPLY_OUTPUTS)``; the pipeline changes in place), the next observation
    (:func:`observe_kernel`) and the supply features (:func:`observe_supply_kernel`, from the
    (B, T, N) ``fill_trace``, drug-row ``columns``). Returns as :func:`step_box_kernel`; the
    summary info as there, with a ``scratch`` of the block's 19 rows."""
    bad = decode_box_kernel(frac, refill_lo, span, tol, block[0])
    if bad >= 0:
        return bad
    n_env, n = demand.shape
    new_arrived, new_left = new_state[0], new_state[1]
    summary = scratch.shape[1] > 0
    chunk = scratch.shape[1] if summary else STEP_CHUNK
    for b0 in range(0, n_env, chunk):
        b1 = min(b0 + chunk, n_env)
        out = scratch[:, : b1 - b0] if summary else block[:, b0:b1]
        for b in range(b0, b1):
            new_spent[b] = spent[b]
            for i in range(n):
                new_arrived[b, i] = arrived[b, i]
                new_left[b, i] = left[b, i]
                if summary:
                    out[0, b - b0, i] = block[0, b, i]
        supply_flow_kernel(
            new_arrived[b0:b1], new_left[b0:b1], ring[b0:b1], pipe[b0:b1], new_spent[b0:b1], t,
            out[0], demand[b0:b1], price[b0:b1], rate[b0:b1], budget, emergency[b0:b1], static,
            limits, fill[b0:b1], lead[b0:b1], recall[b0:b1], alt_price[b0:b1], alt_fill,
            out[1:], sums[:, b0:b1], 0, b1 - b0,
        )  # fmt: skip
        if summary:
            sum_rows(out, unit_rows, units, b0)
        observe_kernel(
            obs, template, nf, layout, price_next, rate_next, demand, budget_next, new_arrived,
            new_left, ring, t + 1, new_spent, static, limits, scales, time_left, b0, b1,
        )  # fmt: skip
        observe_supply_kernel(
            obs, nf, columns, pipe, t + 1, fill_trace, 1.0 / scales[1], scales[4], b0, b1
        )
    return -1


#: Kernels that call other kernels: :func:`druginv_gym.dynamics.compiled` compiles the callees
#: first and hands them to the caller under the same names.
CALLS = {
    supply_flow_kernel: (drug_costs,),
    step_box_kernel: (decode_box_kernel, flow_kernel, sum_rows, observe_kernel),
    step_one_kernel: (step_box_kernel, sum_rows),
    step_box_supply_kernel: (
        decode_box_kernel, supply_flow_kernel, sum_rows, observe_kernel, observe_supply_kernel,
    ),
}  # fmt: skip
