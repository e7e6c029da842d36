package sovereign

import (
	"context"
	"iter"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Regions lists the platform's regions, with each data plane's health.
func (c *ManagementClient) Regions(ctx context.Context) iter.Seq2[*Region, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*Region, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.RegionServiceListRegionsProcedure, callRead,
			c.regions.ListRegions, &controlplanev1.ListRegionsRequest{})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetRegions(), regionOf), "", nil
	})
}
