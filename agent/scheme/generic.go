package scheme

// genericHMAC is a placeholder until its implementation lands.
type genericHMAC struct{}

func (genericHMAC) Name() string                { return "hmac" }
func (genericHMAC) Hosts() []string             { return nil }
func (genericHMAC) Info() Info                  { return Info{} }
func (genericHMAC) Check(Key) (Checked, error)  { return Checked{}, errPending("hmac") }
func (genericHMAC) Sign(Input) (Request, error) { return Request{}, errPending("hmac") }
