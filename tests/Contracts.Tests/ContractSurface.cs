using System.Reflection;
using System.Text;
using Orleans;
using Orleans.Concurrency;

namespace Coordinator.Contracts.Tests;

/// <summary>
/// Writes the public surface of the Contracts assembly as text, one line per type and member, in a stable order:
/// types with their kind, base types and serialization attributes; constructors, methods, properties (with their
/// Orleans field ids), constants and enum values. What a client compiles against and what crosses the wire.
/// </summary>
internal static class ContractSurface
{
    private static readonly HashSet<string> ObjectMembers = new(StringComparer.Ordinal) { "Equals", "GetHashCode", "ToString", "Deconstruct" };

    public static string Describe(Assembly assembly)
    {
        var text = new StringBuilder();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            text.AppendLine(TypeLine(type));
            foreach (var line in Members(type).Order(StringComparer.Ordinal))
            {
                text.Append("    ").AppendLine(line);
            }
        }

        return text.ToString().ReplaceLineEndings("\n");
    }

    private static string TypeLine(Type type)
    {
        var kind = type.IsEnum ? "enum" : type.IsInterface ? "interface" : type.IsValueType ? "struct"
            : type.GetMethod("<Clone>$") is not null ? "record" : type.IsAbstract && type.IsSealed ? "static class" : "class";
        var modifiers = !type.IsInterface && !type.IsValueType && type.IsAbstract && !type.IsSealed ? "abstract " : type.IsSealed && !type.IsAbstract && !type.IsValueType ? "sealed " : "";
        var bases = new List<string>();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType) && baseType != typeof(Enum))
        {
            bases.Add(Name(baseType));
        }

        var declared = type.GetInterfaces().Except(type.BaseType?.GetInterfaces() ?? []).Where(i => i.IsPublic || i.IsNestedPublic);
        bases.AddRange(declared.Select(Name).Where(n => !n.StartsWith("IEquatable<", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        return $"{Attributes(type)}{modifiers}{kind} {Name(type)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static IEnumerable<string> Members(Type type)
    {
        const BindingFlags Declared = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.IsEnum)
        {
            foreach (var name in Enum.GetNames(type))
            {
                yield return $"{name} = {Convert.ToInt64(Enum.Parse(type, name), System.Globalization.CultureInfo.InvariantCulture)}";
            }

            yield break;
        }

        foreach (var ctor in type.GetConstructors(Declared))
        {
            yield return $"ctor({Parameters(ctor)})";
        }

        foreach (var method in type.GetMethods(Declared).Where(m => !m.IsSpecialName && !m.Name.Contains('<', StringComparison.Ordinal) && !ObjectMembers.Contains(m.Name)))
        {
            yield return $"{Attributes(method)}{(method.IsStatic ? "static " : "")}{Name(method.ReturnType)} {method.Name}({Parameters(method)})";
        }

        foreach (var property in type.GetProperties(Declared).Where(p => p.Name != "EqualityContract"))
        {
            var accessors = (property.GetMethod?.IsPublic == true ? "get; " : "") + (property.SetMethod?.IsPublic == true ? (IsInitOnly(property) ? "init; " : "set; ") : "");
            yield return $"{Attributes(property)}{(property.GetMethod?.IsStatic == true ? "static " : "")}{Name(property.PropertyType)} {property.Name} {{ {accessors}}}";
        }

        foreach (var field in type.GetFields(Declared))
        {
            var value = field.IsLiteral ? $" = {Literal(field.GetRawConstantValue())}" : "";
            yield return $"{(field.IsLiteral ? "const" : field.IsStatic ? "static" : "field")} {Name(field.FieldType)} {field.Name}{value}";
        }
    }

    private static bool IsInitOnly(PropertyInfo property) =>
        property.SetMethod!.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.FullName == "System.Runtime.CompilerServices.IsExternalInit");

    private static string Parameters(MethodBase method) =>
        string.Join(", ", method.GetParameters().Select(p => $"{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? $" = {Literal(p.DefaultValue)}" : "")}"));

    /// <summary>The attributes that change the wire or call semantics.</summary>
    private static string Attributes(MemberInfo member)
    {
        var parts = new List<string>();
        foreach (var attribute in member.GetCustomAttributesData())
        {
            var type = attribute.AttributeType;
            if (type == typeof(GenerateSerializerAttribute) || type == typeof(ImmutableAttribute) || type == typeof(AlwaysInterleaveAttribute)
                || type == typeof(ReadOnlyAttribute) || type == typeof(OneWayAttribute))
            {
                parts.Add(type.Name.Replace("Attribute", "", StringComparison.Ordinal));
            }
            else if (type == typeof(IdAttribute) || type == typeof(AliasAttribute) || type == typeof(ResponseTimeoutAttribute))
            {
                parts.Add($"{type.Name.Replace("Attribute", "", StringComparison.Ordinal)}({string.Join(", ", attribute.ConstructorArguments.Select(a => Literal(a.Value)))})");
            }
        }

        return parts.Count == 0 ? "" : $"[{string.Join(", ", parts.Order(StringComparer.Ordinal))}] ";
    }

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Name(Type type)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!) + "&";
        }

        if (type.IsArray)
        {
            return Name(type.GetElementType()!) + "[]";
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Name(underlying) + "?";
        }

        if (type.IsGenericParameter)
        {
            return type.Name;
        }

        var name = type.IsNested ? $"{Name(type.DeclaringType!)}.{type.Name}" : type.Namespace is "System" or "System.Collections.Generic" or "System.Threading" or "System.Threading.Tasks" ? type.Name : type.FullName ?? type.Name;
        if (!type.IsGenericType)
        {
            return name;
        }

        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return $"{(tick < 0 ? name : name[..tick])}<{string.Join(", ", type.GetGenericArguments().Select(Name))}>";
    }
}
