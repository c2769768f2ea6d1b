using System.Buffers;
using System.Globalization;

namespace Ferry.Bench;

/// <summary>RFC 4180 writer: comma separated, '\n' line ends, quotes only where needed.</summary>
internal sealed class CsvWriter : IDisposable
{
    private static readonly SearchValues<char> NeedsQuoting = SearchValues.Create(",\"\r\n");
    private readonly TextWriter _out;
    private bool _atLineStart = true;

    public CsvWriter(TextWriter output) => _out = output;

    public void Field(string value) => Field(value.AsSpan());

    public void Field(ReadOnlySpan<char> value)
    {
        Separator();
        if (value.IndexOfAny(NeedsQuoting) < 0)
        {
            _out.Write(value);
            return;
        }
        _out.Write('"');
        while (true)
        {
            var quote = value.IndexOf('"');
            if (quote < 0)
            {
                _out.Write(value);
                break;
            }
            _out.Write(value[..(quote + 1)]);
            _out.Write('"');
            value = value[(quote + 1)..];
        }
        _out.Write('"');
    }

    public void Field(long value)
    {
        Span<char> buffer = stackalloc char[24];
        value.TryFormat(buffer, out var written, default, CultureInfo.InvariantCulture);
        Field(buffer[..written]);
    }

    public void Field(DateOnly value)
    {
        Span<char> buffer = stackalloc char[10];
        value.TryFormat(buffer, out var written, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        Field(buffer[..written]);
    }

    /// <summary>A decimal amount given in hundredths, written with exactly two decimals.</summary>
    public void Money(long cents)
    {
        Span<char> buffer = stackalloc char[32];
        var pos = 0;
        if (cents < 0)
        {
            buffer[pos++] = '-';
            cents = -cents;
        }
        (cents / 100).TryFormat(buffer[pos..], out var written, default, CultureInfo.InvariantCulture);
        pos += written;
        buffer[pos++] = '.';
        buffer[pos++] = (char)('0' + cents % 100 / 10);
        buffer[pos++] = (char)('0' + cents % 10);
        Field(buffer[..pos]);
    }

    public void EndRow()
    {
        _out.Write('\n');
        _atLineStart = true;
    }

    private void Separator()
    {
        if (!_atLineStart)
            _out.Write(',');
        _atLineStart = false;
    }

    public void Dispose() => _out.Dispose();
}
