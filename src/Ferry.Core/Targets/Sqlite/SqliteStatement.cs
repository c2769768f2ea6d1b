using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using static Ferry.Targets.Sqlite.SqliteNative;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// A prepared statement on the raw SQLite handle, for the per-row hot path (staging, insert,
/// update, lookup). It skips the ADO.NET layer's per-call objects, which cost more than SQLite's
/// own work on short rows, and binds a row's text where it was encoded rather than having SQLite
/// copy it. It shares the connection, and so its transactions, with ADO.NET.
/// </summary>
internal sealed unsafe class SqliteStatement : IDisposable
{
    private readonly sqlite3 db;
    private readonly sqlite3_stmt statement;
    private readonly IntPtr handle;
    private readonly IntPtr dbHandle;

    // BindValues encodes a row's text here and binds it in place (SQLITE_STATIC), so the buffer is
    // native memory, which never moves; a buffer outgrown is freed only with the statement, since
    // a parameter not bound since may still point into it.
    private byte* text = (byte*)NativeMemory.Alloc(4096);
    private int capacity = 4096;
    private readonly List<IntPtr> outgrown = [];
    private int[] offsets = [], lengths = [];
    private byte[] scratch = new byte[256]; // values compared with a stored row are encoded here

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        // SqliteNative calls the library the connection was opened with only if that is e_sqlite3,
        // the one Microsoft.Data.Sqlite's bundle ships; a host that chose another provider
        // (SQLCipher, the system's sqlite3) would hand it handles it does not own.
        if (raw.GetNativeLibraryName() != "e_sqlite3")
            throw new TargetException($"Ferry's SQLite target needs the e_sqlite3 library of Microsoft.Data.Sqlite's bundle; this process uses {raw.GetNativeLibraryName()}");
        db = connection.Handle!;
        Check(raw.sqlite3_prepare_v2(db, sql, out statement));
        handle = statement.DangerousGetHandle();
        dbHandle = db.DangerousGetHandle();
        ParameterCount = raw.sqlite3_bind_parameter_count(statement);
    }

    public int ParameterCount { get; }

    /// <summary>Binds a value in storage form (see <see cref="SqliteValues.ToStorage"/>) to parameter <paramref name="index"/> (0-based); SQLite copies text.</summary>
    public void Bind(int index, object? value)
    {
        var i = index + 1;
        switch (value)
        {
            case null or DBNull:
                Check(sqlite3_bind_null(handle, i));
                break;
            case long l:
                Check(sqlite3_bind_int64(handle, i, l));
                break;
            case int n:
                Check(sqlite3_bind_int64(handle, i, n));
                break;
            case double d:
                Check(sqlite3_bind_double(handle, i, d));
                break;
            case byte[] b:
                Check(raw.sqlite3_bind_blob(statement, i, b));
                break;
            default:
                BindUtf8(index, Encoding.UTF8.GetBytes(value as string ?? value.ToString() ?? ""));
                break;
        }
    }

    /// <summary>Binds UTF-8 text without making a string of it first; SQLite copies it.</summary>
    public void BindUtf8(int index, ReadOnlySpan<byte> utf8)
    {
        fixed (byte* p = utf8)
            Check(sqlite3_bind_text(handle, index + 1, p, utf8.Length, Transient));
    }

    /// <summary>
    /// Binds mapped values (as the mapping produced them) to parameters 1.., in their storage form
    /// (see <see cref="SqliteValues.ToStorage"/>), without making a string or a copy of any.
    /// </summary>
    public void BindValues(ReadOnlySpan<object?> values)
    {
        if (offsets.Length < values.Length)
        {
            offsets = new int[values.Length];
            lengths = new int[values.Length];
        }
        // Every text is encoded before any is bound, so that growing the buffer moves none bound.
        var used = 0;
        for (var i = 0; i < values.Length; i++)
        {
            if (!SqliteValues.IsText(values[i]))
                continue;
            int written;
            while (!SqliteValues.TryWriteText(values[i]!, new Span<byte>(text + used, capacity - used), out written))
                Grow(used);
            offsets[i] = used;
            lengths[i] = written;
            used += written;
        }
        for (var i = 0; i < values.Length; i++)
        {
            var rc = values[i] switch
            {
                null => sqlite3_bind_null(handle, i + 1),
                long l => sqlite3_bind_int64(handle, i + 1, l),
                double d => sqlite3_bind_double(handle, i + 1, d),
                bool b => sqlite3_bind_int64(handle, i + 1, b ? 1 : 0),
                _ => sqlite3_bind_text(handle, i + 1, text + offsets[i], lengths[i], Static),
            };
            Check(rc);
        }
    }

    private void Grow(int used)
    {
        var larger = (byte*)NativeMemory.Alloc((nuint)capacity * 2);
        Buffer.MemoryCopy(text, larger, capacity * 2, used);
        outgrown.Add((IntPtr)text);
        text = larger;
        capacity *= 2;
    }

    /// <summary>
    /// Whether column <paramref name="index"/> of the current row holds what <see cref="BindValues"/>
    /// would store for <paramref name="value"/>: <see cref="SqliteValues.Same"/>, without reading the
    /// stored value into a string.
    /// </summary>
    public bool ColumnMatches(int index, object? value)
    {
        var type = sqlite3_column_type(handle, index);
        if (value is null || type == raw.SQLITE_NULL)
            return value is null && type == raw.SQLITE_NULL;
        switch (value)
        {
            case long or bool:
                var l = value is long n ? n : (bool)value ? 1L : 0L;
                if (type == raw.SQLITE_INTEGER)
                    return sqlite3_column_int64(handle, index) == l;
                if (type == raw.SQLITE_FLOAT)
                    return sqlite3_column_double(handle, index) == l;
                break;
            case double d:
                if (type == raw.SQLITE_INTEGER)
                    return sqlite3_column_int64(handle, index) == d;
                if (type == raw.SQLITE_FLOAT)
                    return sqlite3_column_double(handle, index).Equals(d);
                break;
            case string s when type == raw.SQLITE_TEXT:
                var stored = ColumnBytes(index);
                // Text is mostly ASCII, whose UTF-8 is its UTF-16 narrowed: compare without encoding.
                if (Ascii.Equals(stored, s))
                    return true;
                return !Ascii.IsValid(s) && stored.SequenceEqual(Encode(s));
            default:
                if (type == raw.SQLITE_TEXT)
                {
                    int written;
                    while (!SqliteValues.TryWriteText(value, scratch, out written))
                        scratch = new byte[scratch.Length * 2];
                    return ColumnBytes(index).SequenceEqual(scratch.AsSpan(0, written));
                }
                break;
        }
        // Another storage class than Ferry writes (the user's own table): compare as SqliteValues does.
        return SqliteValues.Same(Column(index), SqliteValues.ToStorage(value));
    }

    private ReadOnlySpan<byte> Encode(string value)
    {
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max > scratch.Length)
            scratch = new byte[max];
        return scratch.AsSpan(0, Encoding.UTF8.GetBytes(value, scratch));
    }

    /// <summary>The bytes of a text or blob column of the current row, valid until the next step.</summary>
    private ReadOnlySpan<byte> ColumnBytes(int index)
    {
        var start = sqlite3_column_blob(handle, index);
        return start is null ? [] : new ReadOnlySpan<byte>(start, sqlite3_column_bytes(handle, index));
    }

    /// <summary>Column <paramref name="index"/> of the current row as invariant text, into <paramref name="chars"/>; false when it is neither text nor an integer.</summary>
    public bool ColumnKey(int index, ref char[] chars, out int length)
    {
        length = 0;
        switch (sqlite3_column_type(handle, index))
        {
            case raw.SQLITE_TEXT:
                var bytes = ColumnBytes(index);
                if (Encoding.UTF8.GetMaxCharCount(bytes.Length) > chars.Length)
                    chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
                length = Encoding.UTF8.GetChars(bytes, chars);
                return true;
            case raw.SQLITE_INTEGER:
                return sqlite3_column_int64(handle, index).TryFormat(chars, out length, default, System.Globalization.CultureInfo.InvariantCulture);
            default:
                return false;
        }
    }

    /// <summary>Runs a statement that returns no rows; returns the number of rows it changed.</summary>
    public int Execute()
    {
        try
        {
            var rc = sqlite3_step(handle);
            if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
                Check(rc);
            return sqlite3_changes(dbHandle);
        }
        finally
        {
            sqlite3_reset(handle);
        }
    }

    /// <summary>Advances a query; false at its end (the statement is then reset for the next use).</summary>
    public bool Step()
    {
        var rc = sqlite3_step(handle);
        if (rc == raw.SQLITE_ROW)
            return true;
        sqlite3_reset(handle);
        if (rc != raw.SQLITE_DONE)
            Check(rc);
        return false;
    }

    public void Reset() => sqlite3_reset(handle);

    public int ColumnCount => raw.sqlite3_column_count(statement);

    /// <summary>A column of the current row in storage form: long, double, string, byte[] or DBNull.</summary>
    public object Column(int index) => sqlite3_column_type(handle, index) switch
    {
        raw.SQLITE_INTEGER => sqlite3_column_int64(handle, index),
        raw.SQLITE_FLOAT => sqlite3_column_double(handle, index),
        raw.SQLITE_TEXT => Encoding.UTF8.GetString(ColumnBytes(index)),
        raw.SQLITE_BLOB => ColumnBytes(index).ToArray(),
        _ => DBNull.Value,
    };

    private void Check(int rc)
    {
        if (rc is raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW)
            return;
        throw new SqliteException(raw.sqlite3_errmsg(db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(db));
    }

    public void Dispose()
    {
        // Finalized first: only then does no parameter point into the buffers any more.
        statement.Dispose();
        foreach (var buffer in outgrown)
            NativeMemory.Free((void*)buffer);
        outgrown.Clear();
        NativeMemory.Free(text);
        text = null;
    }
}
