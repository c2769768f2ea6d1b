using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// A prepared statement on the raw SQLite handle, for the per-row hot path (staging, insert,
/// update, lookup). It skips the ADO.NET layer's per-call objects, which cost more than SQLite's
/// own work on short rows. It shares the connection, and so its transactions, with ADO.NET.
/// </summary>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 db;
    private readonly sqlite3_stmt statement;
    private byte[] utf8 = new byte[256]; // text is encoded here, not into a new array per value

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        db = connection.Handle!;
        Check(raw.sqlite3_prepare_v2(db, sql, out statement));
        ParameterCount = raw.sqlite3_bind_parameter_count(statement);
    }

    public int ParameterCount { get; }

    /// <summary>Binds a value in storage form (see <see cref="SqliteValues.ToStorage"/>) to parameter <paramref name="index"/> (0-based).</summary>
    public void Bind(int index, object? value)
    {
        var i = index + 1;
        var rc = value switch
        {
            null or DBNull => raw.sqlite3_bind_null(statement, i),
            long l => raw.sqlite3_bind_int64(statement, i, l),
            int n => raw.sqlite3_bind_int64(statement, i, n),
            double d => raw.sqlite3_bind_double(statement, i, d),
            string s => raw.sqlite3_bind_text(statement, i, Encode(s)),
            byte[] b => raw.sqlite3_bind_blob(statement, i, b),
            _ => raw.sqlite3_bind_text(statement, i, value.ToString()),
        };
        Check(rc);
    }

    private ReadOnlySpan<byte> Encode(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max > utf8.Length)
            utf8 = new byte[Math.Max(max, utf8.Length * 2)];
        return utf8.AsSpan(0, Encoding.UTF8.GetBytes(text, utf8));
    }

    /// <summary>
    /// Binds a value as the mapping produced it, in its storage form (see <see cref="SqliteValues.ToStorage"/>),
    /// without making a string or a box of it.
    /// </summary>
    public void BindValue(int index, object? value)
    {
        var i = index + 1;
        var rc = value switch
        {
            null => raw.sqlite3_bind_null(statement, i),
            long l => raw.sqlite3_bind_int64(statement, i, l),
            double d => raw.sqlite3_bind_double(statement, i, d),
            bool b => raw.sqlite3_bind_int64(statement, i, b ? 1 : 0),
            _ => raw.sqlite3_bind_text(statement, i, utf8.AsSpan(0, SqliteValues.WriteText(value, ref utf8))),
        };
        Check(rc);
    }

    /// <summary>
    /// Whether column <paramref name="index"/> of the current row holds what <see cref="BindValue"/>
    /// would store for <paramref name="value"/>: <see cref="SqliteValues.Same"/>, without reading the
    /// stored value into a string.
    /// </summary>
    public bool ColumnMatches(int index, object? value)
    {
        var type = raw.sqlite3_column_type(statement, index);
        if (value is null || type == raw.SQLITE_NULL)
            return value is null && type == raw.SQLITE_NULL;
        switch (value)
        {
            case long or bool:
                var l = value is long n ? n : (bool)value ? 1L : 0L;
                if (type == raw.SQLITE_INTEGER)
                    return raw.sqlite3_column_int64(statement, index) == l;
                if (type == raw.SQLITE_FLOAT)
                    return raw.sqlite3_column_double(statement, index) == l;
                break;
            case double d:
                if (type == raw.SQLITE_INTEGER)
                    return raw.sqlite3_column_int64(statement, index) == d;
                if (type == raw.SQLITE_FLOAT)
                    return raw.sqlite3_column_double(statement, index).Equals(d);
                break;
            default:
                if (type == raw.SQLITE_TEXT)
                    return raw.sqlite3_column_blob(statement, index).SequenceEqual(utf8.AsSpan(0, SqliteValues.WriteText(value, ref utf8)));
                break;
        }
        // Another storage class than Ferry writes (the user's own table): compare as SqliteValues does.
        return SqliteValues.Same(Column(index), SqliteValues.ToStorage(value));
    }

    /// <summary>Column <paramref name="index"/> of the current row as invariant text, into <paramref name="chars"/>; false when it is neither text nor an integer.</summary>
    public bool ColumnKey(int index, ref char[] chars, out int length)
    {
        length = 0;
        switch (raw.sqlite3_column_type(statement, index))
        {
            case raw.SQLITE_TEXT:
                var bytes = raw.sqlite3_column_blob(statement, index);
                if (Encoding.UTF8.GetMaxCharCount(bytes.Length) > chars.Length)
                    chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
                length = Encoding.UTF8.GetChars(bytes, chars);
                return true;
            case raw.SQLITE_INTEGER:
                return raw.sqlite3_column_int64(statement, index).TryFormat(chars, out length, default, System.Globalization.CultureInfo.InvariantCulture);
            default:
                return false;
        }
    }

    /// <summary>Binds UTF-8 text without making a string of it first.</summary>
    public void BindUtf8(int index, ReadOnlySpan<byte> utf8) => Check(raw.sqlite3_bind_text(statement, index + 1, utf8));

    /// <summary>Runs a statement that returns no rows; returns the number of rows it changed.</summary>
    public int Execute()
    {
        try
        {
            var rc = raw.sqlite3_step(statement);
            if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
                Check(rc);
            return raw.sqlite3_changes(db);
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    /// <summary>Advances a query; false at its end (the statement is then reset for the next use).</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(statement);
        if (rc == raw.SQLITE_ROW)
            return true;
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE)
            Check(rc);
        return false;
    }

    public void Reset() => raw.sqlite3_reset(statement);

    public int ColumnCount => raw.sqlite3_column_count(statement);

    /// <summary>A column of the current row in storage form: long, double, string, byte[] or DBNull.</summary>
    public object Column(int index) => raw.sqlite3_column_type(statement, index) switch
    {
        raw.SQLITE_INTEGER => raw.sqlite3_column_int64(statement, index),
        raw.SQLITE_FLOAT => raw.sqlite3_column_double(statement, index),
        raw.SQLITE_TEXT => raw.sqlite3_column_text(statement, index).utf8_to_string(),
        raw.SQLITE_BLOB => raw.sqlite3_column_blob(statement, index).ToArray(),
        _ => DBNull.Value,
    };

    private void Check(int rc)
    {
        if (rc is raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW)
            return;
        throw new SqliteException(raw.sqlite3_errmsg(db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(db));
    }

    public void Dispose() => statement.Dispose();
}
