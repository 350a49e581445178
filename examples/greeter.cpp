// A small COM-style program with three planted BSTR ownership bugs, for
// bstrcheck's Quick start. The interface follows the COM rules:
//   [in]      BSTR   the caller allocates and frees; the callee only reads
//   [out]     BSTR*  the callee allocates; the caller must free
//   [in, out] BSTR*  the callee may replace it (freeing the old one);
//                    the caller frees what is there at the end
#include "oleauto.h"

#include <cstdio>
#include <initializer_list>

struct IGreeter {
    virtual HRESULT SetName(BSTR name) = 0;        // [in]
    virtual HRESULT GetGreeting(BSTR *out) = 0;    // [out]
    virtual HRESULT GetTitle(BSTR *out) = 0;       // [out]
    virtual HRESULT Decorate(BSTR *inout) = 0;     // [in, out]
    virtual HRESULT Log(BSTR message) = 0;         // [in]
    virtual ~IGreeter() = default;
};

class Greeter final : public IGreeter {
public:
    ~Greeter() override { SysFreeString(name_); }

    HRESULT SetName(BSTR name) override
    {
        // Correct: keep a copy of the [in] string, never the caller's.
        return SysReAllocString(&name_, name) ? S_OK : E_OUTOFMEMORY;
    }

    HRESULT GetGreeting(BSTR *out) override
    {
        BSTR text = SysAllocString(u"Hello, ");
        UINT len = SysStringLen(text);
        if (!SysReAllocStringLen(&text, text, len + SysStringLen(name_)))
            return E_OUTOFMEMORY;
        for (UINT i = 0; i < SysStringLen(name_); i++)
            text[len + i] = name_[i];
        *out = text; // ownership passes to the caller
        return S_OK;
    }

    HRESULT GetTitle(BSTR *out) override
    {
        *out = SysAllocString(u"Dr.");
        SysFreeString(*out); // BUG 2: the callee frees the BSTR it returns
        return S_OK;
    }

    HRESULT Decorate(BSTR *inout) override
    {
        // Correct [in, out]: replace the string, freeing the old one.
        BSTR fresh = SysAllocStringLen(nullptr, SysStringLen(*inout) + 2);
        fresh[0] = u'*';
        for (UINT i = 0; i < SysStringLen(*inout); i++)
            fresh[i + 1] = (*inout)[i];
        fresh[SysStringLen(fresh) - 1] = u'*';
        SysFreeString(*inout);
        *inout = fresh;
        return S_OK;
    }

    HRESULT Log(BSTR message) override
    {
        std::printf("log: %u characters\n", SysStringLen(message));
        SysFreeString(message); // BUG 3: the callee frees its [in] BSTR
        return S_OK;
    }

private:
    BSTR name_ = nullptr;
};

static void greet(IGreeter *greeter, const OLECHAR *who)
{
    BSTR name = SysAllocString(who);
    greeter->SetName(name);
    SysFreeString(name);

    BSTR greeting = nullptr;
    greeter->GetGreeting(&greeting);
    std::printf("greeting of %u characters\n", SysStringLen(greeting));
    // BUG 1: the caller never frees the [out] greeting
}

int main()
{
    Greeter greeter;
    for (const OLECHAR *who : {u"Ada", u"Grace", u"Katherine"})
        greet(&greeter, who);

    BSTR title = nullptr;
    greeter.GetTitle(&title);
    SysFreeString(title); // frees what the callee already freed

    BSTR banner = SysAllocString(u"welcome");
    greeter.Decorate(&banner);
    SysFreeString(banner); // correct: the caller frees the [in, out] result

    BSTR message = SysAllocString(u"started");
    greeter.Log(message);
    SysFreeString(message); // the caller's free, correct by the rules
    return 0;
}
