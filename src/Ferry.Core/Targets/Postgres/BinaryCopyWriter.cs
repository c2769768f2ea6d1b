using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Ferry.Targets.Postgres;

/// <summary>
/// The rows of a <c>COPY … FROM STDIN (FORMAT BINARY)</c>, encoded here into PostgreSQL's binary
/// format and sent through Npgsql's raw COPY stream. It knows the eight column types Ferry creates
/// (<see cref="PostgresValues.CopyType"/>) and encodes each value as Npgsql's own binary import
/// would, without binding a parameter per field: that binding was a third of a first load's client
/// time (bench/run.sh, 2,000,000 rows).
/// </summary>
/// <remarks>
/// Nothing is kept unless <see cref="CompleteAsync"/> ends the COPY: disposing the writer before
/// that cancels it, so a failure halfway never leaves half a batch behind.
/// The buffer goes out only by <see cref="FlushAsync"/>, between rows, never by a blocking write
/// while a value is encoded: a reply from the server resumes a run on the thread that reads the
/// sockets (Program.cs), and a blocking write there that found the socket's buffer full (a value of
/// some hundred kilobytes did) waited for that same thread to say the socket was writable again,
/// forever. A row longer than the buffer makes it grow.
/// </remarks>
internal sealed class BinaryCopyWriter : IAsyncDisposable
{
    // As Npgsql's: a string that is not valid UTF-16 (a lone surrogate) fails instead of changing.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly byte[] Header = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 255, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];
    private const int FlushAt = 1 << 16;
    private const long PostgresEpochTicks = 630822816000000000; // 2000-01-01T00:00:00, PostgreSQL's zero
    private static readonly int PostgresEpochDay = new DateOnly(2000, 1, 1).DayNumber;

    private readonly NpgsqlRawCopyStream stream;
    private byte[] buffer = new byte[FlushAt * 2];
    private int length;
    private bool completed;

    private BinaryCopyWriter(NpgsqlRawCopyStream stream)
    {
        this.stream = stream;
        Header.CopyTo(buffer, 0);
        length = Header.Length;
    }

    public static async Task<BinaryCopyWriter> BeginAsync(NpgsqlConnection connection, string copySql, CancellationToken cancellationToken) =>
        new(await connection.BeginRawBinaryCopyAsync(copySql, cancellationToken).ConfigureAwait(false));

    /// <summary>Whether the buffer holds enough to send (<see cref="FlushAsync"/>) before the next row.</summary>
    public bool Full => length >= FlushAt;

    /// <summary>Sends what the buffer holds.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await stream.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        length = 0;
    }

    public void StartRow(int fields)
    {
        Reserve(2);
        BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(length), (short)fields);
        length += 2;
    }

    public void WriteNull() => WriteInt32(-1);

    public void WriteInteger(int value) => WriteInt32Field(value);

    /// <summary>A mapped value into a column of <paramref name="type"/>, one of <see cref="PostgresValues.CopyType"/>'s.</summary>
    public void Write(object? value, NpgsqlDbType type)
    {
        if (value is null or DBNull)
        {
            WriteNull();
            return;
        }
        switch (type)
        {
            case NpgsqlDbType.Text when value is string s: WriteText(s); break;
            case NpgsqlDbType.Bigint when value is long l: WriteInt64Field(l); break;
            case NpgsqlDbType.Bigint when value is int or short: WriteInt64Field(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case NpgsqlDbType.Numeric when value is decimal m: WriteNumeric(m); break;
            case NpgsqlDbType.Numeric when value is long or int: WriteNumeric(Convert.ToDecimal(value, CultureInfo.InvariantCulture)); break;
            case NpgsqlDbType.Double when value is double f: WriteInt64Field(BitConverter.DoubleToInt64Bits(f)); break;
            case NpgsqlDbType.Double when value is float f: WriteInt64Field(BitConverter.DoubleToInt64Bits(f)); break;
            case NpgsqlDbType.Boolean when value is bool b:
                Reserve(5);
                BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), 1);
                buffer[length + 4] = b ? (byte)1 : (byte)0;
                length += 5;
                break;
            case NpgsqlDbType.Date when value is DateOnly d: WriteDate(d); break;
            case NpgsqlDbType.Date when value is DateTime t: WriteDate(DateOnly.FromDateTime(t)); break;
            case NpgsqlDbType.TimestampTz when value is DateTime t: WriteTimestamp(t); break;
            case NpgsqlDbType.TimestampTz when value is DateTimeOffset o: WriteTimestamp(o.UtcDateTime); break;
            case NpgsqlDbType.Uuid when value is Guid g:
                Reserve(20);
                BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), 16);
                g.TryWriteBytes(buffer.AsSpan(length + 4, 16), bigEndian: true, out _);
                length += 20;
                break;
            default:
                throw new InvalidCastException($"a {value.GetType().Name} value cannot be written to a PostgreSQL column of type {type}");
        }
    }

    /// <summary>Ends the COPY: the server keeps the rows, or its error (a key conflict, a refused value) is thrown here.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        Reserve(2);
        BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(length), -1);
        length += 2;
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        completed = true;
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Cancels the COPY unless it completed: the server discards every row it got.</summary>
    public async ValueTask DisposeAsync()
    {
        if (completed)
            return;
        completed = true;
        try
        {
            await stream.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PostgresException or NpgsqlException or ObjectDisposedException or InvalidOperationException)
        {
            // The COPY had failed already (its error is what brought us here) or the connection is gone.
        }
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    private void WriteText(string s)
    {
        // A short string is encoded straight into the buffer; a long one is measured first.
        var most = s.Length <= 1 << 14 ? Utf8.GetMaxByteCount(s.Length) : Utf8.GetByteCount(s);
        Reserve(4 + most);
        var written = Utf8.GetBytes(s, buffer.AsSpan(length + 4));
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), written);
        length += 4 + written;
    }

    private void WriteDate(DateOnly date) => WriteInt32Field(
        date == DateOnly.MaxValue ? int.MaxValue // infinity, as Npgsql writes it
        : date == DateOnly.MinValue ? int.MinValue
        : date.DayNumber - PostgresEpochDay);

    /// <summary>
    /// Microseconds since 2000 in UTC. A time of unknown kind is taken as UTC, as reconciliation reads
    /// it (<c>CanonicalValues</c>); a local time is converted. Sub-microsecond ticks are cut as Npgsql cuts them.
    /// </summary>
    private void WriteTimestamp(DateTime time)
    {
        long micros;
        if (time == DateTime.MaxValue)
            micros = long.MaxValue;
        else if (time == DateTime.MinValue)
            micros = long.MinValue;
        else
        {
            if (time.Kind == DateTimeKind.Local)
                time = time.ToUniversalTime();
            micros = (time.Ticks - PostgresEpochTicks) / 10;
        }
        WriteInt64Field(micros);
    }

    /// <summary>
    /// PostgreSQL's numeric: base-10000 digits (whole part grouped from the point leftwards, fraction
    /// rightwards), the weight of the first, a sign and the display scale, which is the decimal's scale.
    /// </summary>
    private void WriteNumeric(decimal value)
    {
        Span<char> text = stackalloc char[40]; // a decimal has at most 29 digits, a sign and a point
        value.TryFormat(text, out var n, default, CultureInfo.InvariantCulture);
        text = text[..n];
        var negative = text[0] == '-';
        if (negative)
            text = text[1..];
        var point = text.IndexOf('.');
        var whole = point < 0 ? text : text[..point];
        var fraction = point < 0 ? [] : text[(point + 1)..];
        Span<short> digits = stackalloc short[16];
        var count = 0;
        // The whole part's groups, the first one possibly short.
        var first = whole.Length % 4 == 0 ? 4 : whole.Length % 4;
        for (var i = 0; i < whole.Length; i += i == 0 ? first : 4)
            digits[count++] = Group(whole.Slice(i, i == 0 ? first : 4));
        var weight = count - 1;
        for (var i = 0; i < fraction.Length; i += 4)
            digits[count++] = Group(fraction.Slice(i, Math.Min(4, fraction.Length - i)), pad: true);
        var start = 0;
        while (start < count && digits[start] == 0)
        {
            start++;
            weight--;
        }
        while (count > start && digits[count - 1] == 0)
            count--;
        var used = count - start;
        if (used == 0)
            weight = 0;
        Reserve(4 + 8 + 2 * used);
        var span = buffer.AsSpan(length);
        BinaryPrimitives.WriteInt32BigEndian(span, 8 + 2 * used);
        BinaryPrimitives.WriteInt16BigEndian(span[4..], (short)used);
        BinaryPrimitives.WriteInt16BigEndian(span[6..], (short)weight);
        BinaryPrimitives.WriteUInt16BigEndian(span[8..], negative && used > 0 ? (ushort)0x4000 : (ushort)0);
        BinaryPrimitives.WriteInt16BigEndian(span[10..], (short)fraction.Length);
        for (var i = 0; i < used; i++)
            BinaryPrimitives.WriteInt16BigEndian(span[(12 + 2 * i)..], digits[start + i]);
        length += 12 + 2 * used;
    }

    private static short Group(ReadOnlySpan<char> chars, bool pad = false)
    {
        var value = 0;
        foreach (var c in chars)
            value = value * 10 + (c - '0');
        for (var i = chars.Length; pad && i < 4; i++)
            value *= 10;
        return (short)value;
    }

    private void WriteInt32(int value)
    {
        Reserve(4);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), value);
        length += 4;
    }

    private void WriteInt32Field(int value)
    {
        Reserve(8);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), 4);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length + 4), value);
        length += 8;
    }

    private void WriteInt64Field(long value)
    {
        Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(length), 8);
        BinaryPrimitives.WriteInt64BigEndian(buffer.AsSpan(length + 4), value);
        length += 12;
    }

    private void Reserve(int size)
    {
        if (length + size > buffer.Length)
            Array.Resize(ref buffer, (int)Math.Min(Array.MaxLength, Math.Max(2L * buffer.Length, (long)length + size)));
    }
}
