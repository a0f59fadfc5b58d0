// An MSBuild inline task (RoslynCodeTaskFactory, see TorchSharpNative.targets): makes TorchSharp's
// libLibTorchSharp.so loadable where the system libstdc++ predates GLIBCXX_3.4.32 (GCC 13), e.g. Debian 12.
//
// Why this is enough: the library asks for GLIBCXX_3.4.32 only because GCC 13's <iostream> plants an
// undefined reference to std::ios_base_library_init() to pin the newer libstdc++; nothing relocates against
// it, so the loader never looks the symbol up. The loader refuses the library only because the version
// requirement is not met. Marking that requirement weak (VER_FLG_WEAK in .gnu.version_r) lifts the refusal.
// The task checks the premise: if any relocation refers to a symbol of that version, it stops with an error
// instead of producing a library that would fail when loaded.
//
// Written in C# so the build needs nothing beyond the .NET SDK (no compiler, no patchelf). Inline tasks compile
// against netstandard2.0: no records, no spans.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class PatchLibTorchSharp : Task
{
    private const string Version = "GLIBCXX_3.4.32";
    private const uint ShtRela = 4, ShtDynsym = 11, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    private const byte VerFlgWeak = 0x2;

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    /// <summary>The package's libLibTorchSharp.so (never modified).</summary>
    [Required]
    public string Source { get; set; } = "";

    /// <summary>Where the patched copy goes, when one is needed.</summary>
    [Required]
    public string OutputDirectory { get; set; } = "";

    /// <summary>The patched copy, or empty when the system libstdc++ already has the version.</summary>
    [Output]
    public string Patched { get; set; } = "";

    public override bool Execute()
    {
        string? system = LibStdCxxCandidates.FirstOrDefault(File.Exists);
        string target = Path.Combine(OutputDirectory, "libLibTorchSharp.so");
        if (system is null || Contains(File.ReadAllBytes(system), Encoding.ASCII.GetBytes(Version)))
        {
            if (File.Exists(target))
            {
                File.Delete(target);
            }
            Log.LogMessage(MessageImportance.Low, "libstdc++ ({0}) has {1}: TorchSharp's native library is used as shipped.", system ?? "not found", Version);
            return true;
        }

        Patched = target;
        byte[] image = File.ReadAllBytes(Source);
        string? error = Weaken(image);
        if (error is not null)
        {
            Log.LogError(null, "TSN001", null, Source, 0, 0, 0, 0,
                "Cannot make TorchSharp's native library load with {0} (which lacks {1}): {2}. Use a system with GCC 13's libstdc++ or newer (Debian 13, Ubuntu 24.04).",
                system, Version, error);
            return false;
        }

        // Rewritten only when the bytes differ, so an incremental build copies nothing new.
        if (File.Exists(target) && File.ReadAllBytes(target).SequenceEqual(image))
        {
            return true;
        }
        Directory.CreateDirectory(OutputDirectory);
        string temporary = target + ".tmp";
        File.WriteAllBytes(temporary, image);
        File.Copy(temporary, target, overwrite: true);
        File.Delete(temporary);
        Log.LogMessage(MessageImportance.Normal, "{0} lacks {1}: wrote {2} with that version requirement marked weak.", system, Version, target);
        return true;
    }

    /// <summary>Marks the <see cref="Version"/> requirement weak in place; returns why it cannot, or null.</summary>
    private static string? Weaken(byte[] image)
    {
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
        {
            return "not an ELF file";
        }
        if (image[4] != 2 || image[5] != 1)
        {
            return "not a little-endian ELF64 file";
        }

        var sections = ReadSections(image);
        var verneed = sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
        if (verneed is null)
        {
            return "it has no symbol version requirements (.gnu.version_r)";
        }

        // Walk the Elf64_Verneed / Elf64_Vernaux chains for the entry naming the version.
        long strings = sections[(int)verneed.Link].Offset;
        var indices = new HashSet<ushort>();
        long need = verneed.Offset;
        for (uint n = 0; n < verneed.Info; n++)
        {
            ushort auxCount = U16(image, need + 2);
            long aux = need + U32(image, need + 8);
            for (uint a = 0; a < auxCount; a++)
            {
                if (CString(image, strings + U32(image, aux + 8)) == Version)
                {
                    image[aux + 4] |= VerFlgWeak; // vna_flags, little-endian: the flag is in its low byte
                    indices.Add(U16(image, aux + 6));
                }
                aux += U32(image, aux + 12);
            }
            need += U32(image, need + 12);
        }
        if (indices.Count == 0)
        {
            return $"it does not require {Version}";
        }

        // The premise: no relocation may refer to a symbol of that version, or the loader would look it up and fail.
        var versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        if (versym is null)
        {
            return "it has version requirements but no symbol version table (.gnu.version)";
        }
        foreach (var rela in sections.Where(s => s.Type == ShtRela && sections[(int)s.Link].Type == ShtDynsym))
        {
            var symbols = sections[(int)rela.Link];
            long dynstr = sections[(int)symbols.Link].Offset;
            for (long entry = rela.Offset; entry < rela.Offset + rela.Size; entry += 24)
            {
                long symbol = (long)(BitConverter.ToUInt64(image, (int)entry + 8) >> 32);
                if (symbol != 0 && indices.Contains((ushort)(U16(image, versym.Offset + symbol * 2) & 0x7fff)))
                {
                    string name = CString(image, dynstr + U32(image, symbols.Offset + symbol * 24));
                    return $"a relocation refers to {name}@{Version}, so the loader would need that symbol";
                }
            }
        }
        return null;
    }

    private sealed class Section
    {
        public Section(uint type, long offset, long size, uint link, uint info)
        {
            Type = type;
            Offset = offset;
            Size = size;
            Link = link;
            Info = info;
        }

        public uint Type { get; }
        public long Offset { get; }
        public long Size { get; }
        public uint Link { get; }
        public uint Info { get; }
    }

    private static List<Section> ReadSections(byte[] image)
    {
        long table = (long)BitConverter.ToUInt64(image, 0x28);
        ushort size = U16(image, 0x3a), count = U16(image, 0x3c);
        var sections = new List<Section>(count);
        for (int i = 0; i < count; i++)
        {
            long at = table + (long)i * size;
            sections.Add(new Section(U32(image, at + 4), (long)BitConverter.ToUInt64(image, (int)at + 0x18),
                (long)BitConverter.ToUInt64(image, (int)at + 0x20), U32(image, at + 0x28), U32(image, at + 0x2c)));
        }
        return sections;
    }

    private static ushort U16(byte[] image, long at) => BitConverter.ToUInt16(image, (int)at);

    private static uint U32(byte[] image, long at) => BitConverter.ToUInt32(image, (int)at);

    private static string CString(byte[] image, long at)
    {
        int end = Array.IndexOf(image, (byte)0, (int)at);
        return Encoding.ASCII.GetString(image, (int)at, end - (int)at);
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }
            if (j == needle.Length)
            {
                return true;
            }
        }
        return false;
    }
}
