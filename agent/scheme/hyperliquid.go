package scheme

// hyperliquid is a placeholder until its implementation lands.
type hyperliquid struct{}

func (hyperliquid) Name() string                { return "hyperliquid" }
func (hyperliquid) Hosts() []string             { return nil }
func (hyperliquid) Info() Info                  { return Info{} }
func (hyperliquid) Check(Key) (Checked, error)  { return Checked{}, errPending("hyperliquid") }
func (hyperliquid) Sign(Input) (Request, error) { return Request{}, errPending("hyperliquid") }
