namespace Ferry.Examples.CitizenMart;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a fully specified PRNG, so that a seed gives the same
/// register on every runtime (System.Random's algorithm is not specified).
/// </summary>
internal struct SplitMix64
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private ulong _state;

    private SplitMix64(ulong seed) => _state = seed;

    /// <summary>An independent stream for (seed, stream, index).</summary>
    public static SplitMix64 For(ulong seed, ulong stream, long index) =>
        new(Mix(Mix(seed ^ (stream * 0xD1B54A32D192ED03UL)) + (ulong)index * Gamma));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += Gamma;
        return Mix(_state);
    }

    /// <summary>Uniform integer in [0, maxExclusive).</summary>
    public int Next(int maxExclusive) => (int)(((NextUInt64() >> 32) * (ulong)maxExclusive) >> 32);

    public int Next(int minInclusive, int maxExclusive) => minInclusive + Next(maxExclusive - minInclusive);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double p) => NextDouble() < p;

    public T Pick<T>(T[] items) => items[Next(items.Length)];
}
