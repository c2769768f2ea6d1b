using System.Runtime.CompilerServices;

namespace Ferry.Mapping;

/// <summary>
/// One box per value a column repeats (a page count, a grade, a date, a fee), shared by the rows
/// that hold it, instead of a new box per row: a mapped value is an <see cref="object"/>, and on a
/// 2,000,000-row first load the boxes of its dates, integers and decimals were a fifth of what the
/// process allocated. A box is never changed, so any row may hold any box of its value. Small
/// integers have a box each, made once; dates and decimals keep the last box made in each of
/// <see cref="Slots"/> slots chosen by the value, checked before it is given out again, so threads
/// may share the slots: a race only makes a box anew.
/// </summary>
internal static class ValueBoxes
{
    private const int Slots = 1 << 12;
    private const long SmallestKept = -128, LargestKept = 1023;

    private static readonly object[] Integers = [.. Enumerable.Range((int)SmallestKept, (int)(LargestKept - SmallestKept + 1)).Select(i => (object)(long)i)];
    private static readonly object?[] Dates = new object?[Slots];
    private static readonly object?[] Decimals = new object?[Slots];
    private static readonly object True = true, False = false;

    public static object Box(long value) => value is >= SmallestKept and <= LargestKept ? Integers[value - SmallestKept] : value;

    public static object Box(bool value) => value ? True : False;

    /// <summary>Dates within eleven years of each other have slots of their own.</summary>
    public static object Box(DateOnly date)
    {
        var slot = date.DayNumber & (Slots - 1);
        var kept = Dates[slot];
        if (kept is DateOnly same && same == date)
            return kept;
        object box = date;
        Dates[slot] = box;
        return box;
    }

    /// <summary>A decimal's box is shared only with the same bits: 1.5 and 1.50 are equal, but each keeps its scale.</summary>
    public static object Box(decimal value)
    {
        var bits = Unsafe.As<decimal, UInt128>(ref value);
        var slot = (int)((ulong)(bits ^ (bits >> 64)) * 0x9E3779B97F4A7C15UL >> 52) & (Slots - 1);
        var kept = Decimals[slot];
        if (kept is decimal same && Unsafe.As<decimal, UInt128>(ref same) == bits)
            return kept;
        object box = value;
        Decimals[slot] = box;
        return box;
    }
}
