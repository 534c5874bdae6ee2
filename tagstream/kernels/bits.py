"""LLVM bit intrinsics for the numba kernels (what numba has no function for)."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


@intrinsic
def ctz(typingctx, x):
    """Trailing zero bits of a uint64 (64 for 0)."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], cgutils.false_bit)
    return types.uint64(types.uint64), codegen


@intrinsic
def as_float(typingctx, x):
    """The bits of an int64 as a float64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def as_int(typingctx, x):
    """The bits of a float64 as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def popcount(typingctx, x):
    """Set bits of a uint64."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen
