using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// The few SQLite calls of the per-row path, bound straight to the e_sqlite3 library that
/// Microsoft.Data.Sqlite's bundle ships and loads (SQLitePCLRaw binds it by the same name). They
/// take raw handles, so a call costs no SafeHandle reference counting; the short ones (binding a
/// value, reading a column) also skip the GC transition: they neither block nor call back.
/// Statements are prepared and finalized through SQLitePCLRaw, which owns the handles.
/// </summary>
internal static unsafe partial class SqliteNative
{
    private const string Library = "e_sqlite3";

    /// <summary>SQLITE_STATIC: SQLite uses the bound text where it is, until the parameter is bound again.</summary>
    public static readonly IntPtr Static = IntPtr.Zero;

    /// <summary>SQLITE_TRANSIENT: SQLite copies the bound text.</summary>
    public static readonly IntPtr Transient = new(-1);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_null(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_int64(IntPtr statement, int index, long value);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_double(IntPtr statement, int index, double value);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_text(IntPtr statement, int index, byte* text, int length, IntPtr destructor);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_column_type(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long sqlite3_column_int64(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial double sqlite3_column_double(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* sqlite3_column_blob(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_column_bytes(IntPtr statement, int index);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_changes(IntPtr db);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial IntPtr sqlite3_db_mutex(IntPtr db);

    // Entering may wait (for no one, in practice: a run uses its connection from one thread at a time).
    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void sqlite3_mutex_enter(IntPtr mutex);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void sqlite3_mutex_leave(IntPtr mutex);

    /// <summary>
    /// Holds the connection's mutex until disposed. Every SQLite call takes that (recursive) mutex
    /// and gives it back; while this thread holds it already, taking it again is a count, not an
    /// atomic operation, which on a loop of short calls (binding, reading columns) adds up.
    /// </summary>
    public readonly struct Held : IDisposable
    {
        private readonly IntPtr mutex;

        public Held(IntPtr db)
        {
            mutex = sqlite3_db_mutex(db);
            if (mutex != IntPtr.Zero)
                sqlite3_mutex_enter(mutex);
        }

        public void Dispose()
        {
            if (mutex != IntPtr.Zero)
                sqlite3_mutex_leave(mutex);
        }
    }

    // Stepping and resetting do I/O and may wait for locks: they keep the GC transition.
    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_step(IntPtr statement);

    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_reset(IntPtr statement);
}
