"""Reference lane arrays written by hand, used when ``neurosim.rtl`` is not available.

Two designs, each an array of ``lanes`` identical lanes with one ``acc_w``-bit accumulator per lane:

``mac``   INT8 multiply-accumulate. Every cycle one signed 8-bit activation ``a`` is broadcast to all
          lanes; lane ``i`` holds its own signed 8-bit weight ``w[i]`` and does ``acc += a * w``.
``spike`` event-driven spiking accumulate (bitwise sign-magnitude coding). Every cycle at most one
          event (``valid``) is broadcast: its sign ``neg`` and time step's shift ``sh`` (weight
          ``2**sh``); lane ``i`` gets the weight ``w[i]`` of the event's input and does
          ``acc += (neg ? -w : w) << sh`` (the negation as ones' complement plus a carry-in of the
          accumulator, so no separate negation carry chain). With ``valid`` low the accumulators hold.

Ports (all synchronous to ``clk``; ``rst`` active high, synchronous, clears the accumulators):

====== ====== ============== ==========================================================
port   dir    width          meaning
====== ====== ============== ==========================================================
clk    in     1              clock
rst    in     1              synchronous clear
a      in     8 (mac)        signed activation, broadcast
valid  in     1 (spike)      an event is present this cycle
neg    in     1 (spike)      the event's sign (1 = subtract)
sh     in     3 (spike)      the event's time-step shift (bitwise coding: 2**sh)
w      in     8*lanes        lane i's signed weight in bits [8i+7:8i]
acc    out    acc_w*lanes    lane i's accumulator in bits [acc_w*(i+1)-1 : acc_w*i]
====== ====== ============== ==========================================================

Pipeline levels (``pipeline``), the usual cures for a long path, each adding one cycle of latency:

* 0: the whole operation in one cycle.
* 1: the operand (product, or signed shifted weight) is registered before the accumulator.
* 2: as 1, and the accumulator is split into a low and a high half with the carry between them
  registered (carry-pipelined accumulator: the high half catches up one cycle later).
* 3: mac: as 2, and the multiplier is split into two registered half products ``a*w[3:0]`` and
  ``a*w[7:4]`` summed in the next stage; spike: operand register and 3 accumulator segments.
* 4: mac: four registered quarter products ``a*w[2k+1:2k]`` summed in two stages, 3 accumulator
  segments; spike: operand register and 4 accumulator segments.
"""

from __future__ import annotations

from neurosim import NeurosimError

DESIGNS = ("mac", "spike")
MAX_PIPELINE = {"mac": 4, "spike": 4}


def top_name(design: str, lanes: int, pipeline: int, acc_w: int) -> str:
    return f"{design}_array_l{lanes}_p{pipeline}_a{acc_w}"


def latency(design: str, pipeline: int) -> int:
    """Cycles from an input to its effect being complete in ``acc``."""
    regs = {"mac": {0: 0, 1: 1, 2: 1, 3: 2, 4: 3}, "spike": {0: 0, 1: 1, 2: 1, 3: 1, 4: 1}}
    return 1 + regs[design][pipeline] + acc_segments(design, pipeline) - 1


def acc_segments(design: str, pipeline: int) -> int:
    """Number of carry-pipelined accumulator segments used at a pipeline level."""
    if design == "mac":
        return {0: 1, 1: 1, 2: 2, 3: 2, 4: 3}[pipeline]
    return {0: 1, 1: 1, 2: 2, 3: 3, 4: 4}[pipeline]


def _segmented_acc(L: list[str], src: str, acc_w: int, segs: int, ven: int | None = None,
                   cin0: str | None = None) -> None:
    """acc += src (acc_w-bit signed operand) with ``segs`` carry-pipelined segments: segment j adds
    its operand slice delayed by j cycles plus the registered carry of segment j-1.

    ``ven``: when given, segment j (and its operand delay registers) load only when ``vd[ven + j]``
    (the event-valid delayed ven + j cycles) is high, so operands and sums hold between events."""
    bounds = [round(j * acc_w / segs) for j in range(segs + 1)]

    def gate(j: int, lhs: str, rhs: str) -> str:
        if ven is None:
            return f"{lhs} <= {rhs};"
        return f"if (vd[{ven + j}]) {lhs} <= {rhs};"
    L.append(f"  wire [{acc_w - 1}:0] opx = {src};")
    if segs == 1:
        L.append(f"  reg [{acc_w - 1}:0] acc_r;")
        plus = f" + {cin0}" if cin0 else ""
        L.append(f"  always @(posedge clk) if (rst) acc_r <= {acc_w}'d0; else {gate(0, 'acc_r', 'acc_r + opx' + plus)}")
        L.append(f"  assign acc[{acc_w}*i +: {acc_w}] = acc_r;")
        return
    parts = []
    for j in range(segs):
        lo, hi = bounds[j], bounds[j + 1]
        w = hi - lo
        L.append(f"  reg [{w - 1}:0] s{j}; reg c{j};")
        sl = f"opx[{hi - 1}:{lo}]"
        for d in range(j):  # delay the operand slice j cycles
            L.append(f"  reg [{w - 1}:0] o{j}_{d};")
            L.append(f"  always @(posedge clk) if (rst) o{j}_{d} <= {w}'d0; else {gate(d, f'o{j}_{d}', sl)}")
            sl = f"o{j}_{d}"
        cin = f" + c{j - 1}" if j else (f" + {cin0}" if cin0 else "")
        L.append(f"  wire [{w}:0] n{j} = s{j} + {sl}{cin};")
        L.append(f"  always @(posedge clk) if (rst) begin s{j} <= {w}'d0; c{j} <= 1'b0; end "
                 f"else begin {gate(j, f's{j}', f'n{j}[{w - 1}:0]')} {gate(j, f'c{j}', f'n{j}[{w}]')} end")
        parts.append(f"s{j}")
    L.append(f"  assign acc[{acc_w}*i +: {acc_w}] = {{{', '.join(reversed(parts))}}};")


def _lane_body(design: str, pipeline: int, acc_w: int) -> list[str]:
    L: list[str] = ["  wire signed [7:0] wl = w[8*i +: 8];"]
    if design == "mac":
        if pipeline <= 2:
            L.append("  wire signed [15:0] prod = a * wl;")
            src = "prod"
            if pipeline >= 1:
                L.append("  reg signed [15:0] op_r;")
                L.append("  always @(posedge clk) op_r <= rst ? 16'sd0 : prod;")
                src = "op_r"
        elif pipeline == 3:
            # split multiplier: a*w[3:0] (low nibble unsigned) and a*w[7:4] (signed high nibble)
            L.append("  wire signed [12:0] plo = a * $signed({1'b0, wl[3:0]});")
            L.append("  wire signed [11:0] phi = a * $signed(wl[7:4]);")
            L.append("  reg signed [12:0] plo_r; reg signed [11:0] phi_r;")
            L.append("  always @(posedge clk) begin plo_r <= rst ? 13'sd0 : plo; "
                     "phi_r <= rst ? 12'sd0 : phi; end")
            L.append("  wire signed [15:0] psum = plo_r + (phi_r <<< 4);")
            L.append("  reg signed [15:0] op_r;")
            L.append("  always @(posedge clk) op_r <= rst ? 16'sd0 : psum;")
            src = "op_r"
        else:
            # four 2-bit slices of w: a*w[2k+1:2k] (top slice signed), two adder stages
            for k in range(4):
                sg = "$signed(wl[7:6])" if k == 3 else f"$signed({{1'b0, wl[{2 * k + 1}:{2 * k}]}})"
                L.append(f"  wire signed [10:0] q{k} = a * {sg};")
                L.append(f"  reg signed [10:0] q{k}_r; always @(posedge clk) q{k}_r <= rst ? 11'sd0 : q{k};")
            L.append("  wire signed [12:0] h0 = q0_r + (q1_r <<< 2);")
            L.append("  wire signed [12:0] h1 = q2_r + (q3_r <<< 2);")
            L.append("  reg signed [12:0] h0_r, h1_r;")
            L.append("  always @(posedge clk) begin h0_r <= rst ? 13'sd0 : h0; h1_r <= rst ? 13'sd0 : h1; end")
            L.append("  wire signed [15:0] psum = h0_r + (h1_r <<< 4);")
            L.append("  reg signed [15:0] op_r;")
            L.append("  always @(posedge clk) op_r <= rst ? 16'sd0 : psum;")
            src = "op_r"
    else:
        L.append("  wire signed [15:0] shw = wl <<< sh;")
        # -x = ~x + 1: invert here, add the 1 as the carry-in of accumulator segment 0
        L.append("  wire signed [15:0] sop = shw ^ {16{neg}};")
        src, cin = "sop", "neg"
        if pipeline >= 1:
            L.append("  reg signed [15:0] op_r; reg neg_r;")
            L.append("  always @(posedge clk) if (rst) begin op_r <= 16'sd0; neg_r <= 1'b0; end "
                     "else if (valid) begin op_r <= sop; neg_r <= neg; end")
            src, cin = "op_r", "neg_r"
    sx = f"{{{{{acc_w - 16}{{{src}[15]}}}}, {src}}}"
    segs = acc_segments(design, pipeline)
    if design == "spike":
        # valid delay line vd[k] = valid k cycles ago, shared by the lane (hold when no event)
        nd = (1 if pipeline >= 1 else 0) + segs
        L.append(f"  reg [{nd - 1}:0] vdr;")
        L.append(f"  wire [{nd - 1}:0] vd = {{vdr[{nd - 2}:0], valid}};" if nd > 1 else "  wire [0:0] vd = valid;")
        L.append(f"  always @(posedge clk) vdr <= rst ? {nd}'d0 : vd;")
        _segmented_acc(L, sx, acc_w, segs, ven=1 if pipeline >= 1 else 0, cin0=cin)
    else:
        _segmented_acc(L, sx, acc_w, segs)
    return L


def emit_verilog(design: str, lanes: int = 4, pipeline: int = 0, acc_w: int = 24) -> tuple[str, dict]:
    """Return (verilog source, manifest dict) for one lane array."""
    if design not in DESIGNS:
        raise NeurosimError(f"unknown design {design!r}; expected one of {DESIGNS}")
    if not 0 <= pipeline <= MAX_PIPELINE[design]:
        raise NeurosimError(f"{design}: pipeline must be 0..{MAX_PIPELINE[design]}, got {pipeline}")
    if lanes < 1 or acc_w < 17:
        raise NeurosimError("lanes must be >= 1 and acc_w >= 17")
    top = top_name(design, lanes, pipeline, acc_w)
    ports = [("clk", "in", 1, False), ("rst", "in", 1, False)]
    if design == "mac":
        ports.append(("a", "in", 8, True))
    else:
        ports += [("valid", "in", 1, False), ("neg", "in", 1, False), ("sh", "in", 3, False)]
    ports += [("w", "in", 8 * lanes, False), ("acc", "out", acc_w * lanes, False)]
    decl = []
    for name, d, wdt, sgn in ports:
        kw = "input" if d == "in" else "output"
        s = " signed" if sgn else ""
        rng = f" [{wdt - 1}:0]" if wdt > 1 else ""
        decl.append(f"  {kw} wire{s}{rng} {name}")
    src = [f"// generated by neurosim.hwmodels.designs: {design}, {lanes} lanes, pipeline {pipeline}",
           f"module {top} (", ",\n".join(decl), ");", "genvar i;",
           f"generate for (i = 0; i < {lanes}; i = i + 1) begin : lane"]
    src += _lane_body(design, pipeline, acc_w)
    src += ["end endgenerate", "endmodule", ""]
    manifest = {
        "design": design, "top": top, "coding": "bitwise" if design == "spike" else None,
        "variant": "hwmodels-reference", "lanes": lanes, "acc_w": acc_w, "pipeline": pipeline,
        "latency": latency(design, pipeline),
        "ports": [{"name": n, "dir": d, "width": w, "signed": s} for n, d, w, s in ports],
        "source": "neurosim.hwmodels.designs",
    }
    return "\n".join(src), manifest
